"""``backprop serve`` (migrate, then run uvicorn and N workers) and ``backprop migrate``.

The API and the workers run as child processes in their own sessions, so a Ctrl-C or a
SIGTERM reaches only this supervisor, which forwards SIGTERM to each child (workers hand
their job back at the next batch boundary), waits for them and exits 0. A worker that
dies (killed, out of memory) is restarted; if the API dies, everything stops (exit 1).

Many workers, one machine: ``--workers auto`` starts one per CPU of the budget
(``app/cpu.py``), and every worker is told how many share the host
(``BACKPROP_HOST_WORKERS``) so that together they never run more BLAS threads than
there are CPUs. Metrics: the API and every worker write their Prometheus samples to one
directory (``PROMETHEUS_MULTIPROC_DIR``: the caller's, emptied at start, or a temporary
one), which ``GET /metrics`` reads (``app/metrics.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from types import FrameType
from typing import Any

from app.config import get_settings
from app.cpu import auto_workers

log = logging.getLogger("backprop.serve")

STOP_TIMEOUT = 30.0
RESTART_INTERVAL = 2.0  # a worker slot is restarted at most this often (crash loops)


def register_serve(subparsers: Any) -> None:
    """Add ``serve`` to the CLI."""
    parser = subparsers.add_parser(
        "serve", help="migrate the database, run the API and the workers"
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        help="worker processes (default 1; 0: API only; auto: one per CPU)",
    )
    parser.set_defaults(func=serve)


def _worker_count(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of workers or 'auto', got {value!r}"
        ) from None


def register_migrate(subparsers: Any) -> None:
    """Add ``migrate`` to the CLI."""
    parser = subparsers.add_parser("migrate", help="create or upgrade the database schema")
    parser.set_defaults(func=migrate)


def migrate(args: argparse.Namespace) -> int:
    """Apply Alembic migrations up to head."""
    settings = get_settings()
    from app.db.migrate import upgrade_head  # alembic: loaded only when migrating

    upgrade_head(settings)
    print(f"database at head: {settings.database_url}")
    return 0


def _spawn(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True, env=env)


def _metrics_dir() -> tuple[str, bool]:
    """The multiprocess metrics directory (emptied) and whether we made it."""
    from app.metrics import MULTIPROC_ENV, clean_directory

    given = os.environ.get(MULTIPROC_ENV)
    if given:
        clean_directory(given)
        return given, False
    return tempfile.mkdtemp(prefix="backprop-metrics-"), True


def serve(args: argparse.Namespace) -> int:
    """Run the API and the workers until a signal (or the API's death); a worker that
    dies is restarted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    count = auto_workers(settings) if args.workers == "auto" else int(args.workers)
    if count < 0:
        print("--workers must be >= 0", file=sys.stderr)
        return 2
    from app.api.auth import Keyring

    try:
        Keyring.from_settings(settings)  # a bad key: one clear line, before anything starts
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from app.db.migrate import upgrade_head  # alembic: loaded only when migrating

    upgrade_head(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("serve: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    api_argv = [
        sys.executable, "-m", "uvicorn", "app.api.main:create_app", "--factory",
        "--host", args.host, "--port", str(args.port),
        "--log-level", settings.log_level.lower(),
        "--timeout-graceful-shutdown", "5",  # don't wait for long-lived streams forever
    ]  # fmt: skip
    worker_argv = [sys.executable, "-m", "worker"]
    metrics_dir, made = _metrics_dir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    worker_env = {**env, "BACKPROP_HOST_WORKERS": str(max(1, count))}
    api = _spawn(api_argv, env)
    workers = [_spawn(worker_argv, worker_env) for _ in range(count)]
    started = [time.monotonic()] * len(workers)
    log.info("serve: child pids %s", " ".join(str(c.pid) for c in [api, *workers]))
    log.info(
        "serve: API on http://%s:%s (docs at /docs), %d worker(s), database %s",
        args.host, args.port, count, settings.database_url,
    )  # fmt: skip

    failed = False
    while not stop.wait(0.2):
        if api.poll() is not None:
            log.error("serve: the API exited with %s; stopping", api.returncode)
            failed = True
            break
        for i, worker in enumerate(workers):
            crash_looping = time.monotonic() - started[i] < RESTART_INTERVAL
            if worker.poll() is not None and not stop.is_set() and not crash_looping:
                # Its job (if any) goes back to the queue when its lease expires.
                _mark_dead(worker.pid, metrics_dir)
                workers[i], started[i] = _spawn(worker_argv, worker_env), time.monotonic()
                log.warning(
                    "serve: worker %d exited with %s; restarted as %d",
                    worker.pid, worker.returncode, workers[i].pid,
                )  # fmt: skip
    _stop_all([api, *workers])
    if made:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    else:
        for worker in workers:
            _mark_dead(worker.pid, metrics_dir)
    log.info("serve: stopped")
    return 1 if failed else 0


def _mark_dead(pid: int, metrics_dir: str) -> None:
    from app.metrics import mark_process_dead

    mark_process_dead(pid, metrics_dir)


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child still running, wait, SIGKILL stragglers."""
    for child in children:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("serve: child %s did not stop in time; killing it", child.pid)
            child.kill()
            child.wait()
