"""``backprop serve`` (migrate, then run uvicorn and N workers) and ``backprop migrate``.

The API and the workers run as child processes in their own sessions, so a Ctrl-C or a
SIGTERM reaches only this supervisor, which forwards SIGTERM to each child (workers hand
their job back at the next batch boundary), waits for them and exits 0. A worker that
dies (killed, out of memory) is restarted; if the API dies, everything stops (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

from app.config import get_settings

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
        "--workers", type=int, default=1, help="worker processes (default 1; 0: API only)"
    )
    parser.set_defaults(func=serve)


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


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, start_new_session=True)


def serve(args: argparse.Namespace) -> int:
    """Run the API and the workers until a signal (or the API's death); a worker that
    dies is restarted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    if args.workers < 0:
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
    api = _spawn(api_argv)
    workers = [_spawn(worker_argv) for _ in range(args.workers)]
    started = [time.monotonic()] * len(workers)
    log.info("serve: child pids %s", " ".join(str(c.pid) for c in [api, *workers]))
    log.info(
        "serve: API on http://%s:%s (docs at /docs), %d worker(s), database %s",
        args.host, args.port, args.workers, settings.database_url,
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
                workers[i], started[i] = _spawn(worker_argv), time.monotonic()
                log.warning(
                    "serve: worker %d exited with %s; restarted as %d",
                    worker.pid, worker.returncode, workers[i].pid,
                )  # fmt: skip
    _stop_all([api, *workers])
    log.info("serve: stopped")
    return 1 if failed else 0


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
