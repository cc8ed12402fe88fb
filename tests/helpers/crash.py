"""Real processes for the crash tests: the API and workers on a temporary database.

:class:`Deployment` starts ``backprop serve --workers 0`` (migrates, then uvicorn) on a
free port and any number of ``python -m worker`` processes, each with its own log file,
and kills whatever is left at the end. Leases are aged by writing the database (see
:meth:`Deployment.expire_lease`), never by sleeping through them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import Table, create_engine, select, text, update
from sqlalchemy.exc import OperationalError

from app.db.models import Job
from tests.helpers.servers import BACKPROP, free_port, wait_for

JOBS = cast(Table, Job.__table__)


def sqlite_timeout(database_url: str) -> dict[str, Any]:
    """SQLite's busy timeout for a direct connection (other drivers take no such option)."""
    return {"timeout": 30} if database_url.startswith("sqlite") else {}


class Deployment:
    """One database, one API process, workers started and stopped one by one."""

    def __init__(self, tmp: Path, database_url: str | None = None, **settings: Any) -> None:
        self.tmp = tmp
        self.db_path = tmp / "backprop.db"
        self.database_url = database_url or f"sqlite:///{self.db_path}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")},
            "BACKPROP_DATABASE_URL": self.database_url,
            "BACKPROP_POLL_INTERVAL": "0.05",
            "BACKPROP_LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
        }
        for name, value in settings.items():
            self.env[f"BACKPROP_{name.upper()}"] = str(value)
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs: list[Path] = []
        self.port: int | None = None
        self._http: httpx.Client | None = None

    # -- processes --------------------------------------------------------------------

    def spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the temporary directory, its output in its own log file."""
        env = self.env if env is None else env
        log = self.tmp / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv, cwd=self.tmp, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append((name, proc))
        return proc

    def start_api(self) -> httpx.Client:
        """``backprop serve --workers 0`` on a free port; returns a client once healthy."""
        self.port = free_port()
        argv = [BACKPROP, "serve", "--workers", "0", "--port", str(self.port)]
        proc = self.spawn("api", argv, self.env)
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the API exited with {proc.returncode}:\n{self.log_text()}")
            try:
                return self.http.get("/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=30, what="the API to answer /health")
        return self.http

    def start_worker(
        self, script: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """``python -m worker`` (or ``python script``, a test wrapper around it), with
        ``env`` added to the deployment's environment."""
        argv = [sys.executable, str(script)] if script else [sys.executable, "-m", "worker"]
        return self.spawn("worker", argv, {**self.env, **(env or {})})

    @property
    def http(self) -> httpx.Client:
        assert self._http is not None, "start_api() first"
        return self._http

    def stop(self) -> None:
        """SIGTERM everything still running, then SIGKILL what ignores it."""
        for _, proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._http is not None:
            self._http.close()

    def finish_test(self) -> None:
        """Leave the deployment as the next test expects it: no job queued or running
        (all cancelled), no worker alive. The API keeps running."""
        for status in ("queued", "running"):
            listed = self.http.get("/v1/jobs", params={"status": status, "limit": 1000})
            for job in listed.json()["items"]:
                self.http.post(f"/v1/jobs/{job['id']}/cancel")
        workers = [(n, p) for n, p in self.processes if n != "api"]
        for _, proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in workers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes = [(n, p) for n, p in self.processes if n == "api"]
        with self.db() as conn:  # a dead worker's job is still "running": end it too
            conn.execute(
                update(JOBS)
                .where(JOBS.c.status.in_(("queued", "running")))
                .values(status="cancelled", lease_token=None, lease_expires_at=None)
            )

    def log_text(self) -> str:
        return "\n".join(
            f"==== {log.name}\n{log.read_text(errors='replace')}"
            for log in self.logs
            if log.exists()
        )

    # -- REST helpers -----------------------------------------------------------------

    def generate(self, kind: str = "xor", **fields: Any) -> dict[str, Any]:
        body = {"kind": kind, "name": kind, **fields}
        response = self.http.post("/v1/datasets/generate", json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def submit(self, dataset_id: str, network: dict, training: dict, **extra: Any) -> dict:
        body = {"dataset_id": dataset_id, "network": network, "training": training, **extra}
        response = self.http.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait_status(self, job_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if job["status"] in statuses else None

        what = f"job {job_id} to become {'/'.join(statuses)}"
        return wait_for(reached, timeout=timeout, what=what)  # type: ignore[no-any-return]

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            response = self.http.get(
                f"/v1/jobs/{job_id}/metrics", params={"after": after, "limit": 1000}
            )
            assert response.status_code == 200, response.text
            page = response.json()["items"]
            if not page:
                return items
            items.extend(page)
            after = page[-1]["epoch"]

    def weights_npz(self, job_id: str, epoch: int | None = None) -> bytes:
        """The final weights, or the snapshot kept after ``epoch``."""
        params: dict[str, Any] = {"format": "npz"}
        if epoch is not None:
            params["epoch"] = epoch
        response = self.http.get(f"/v1/jobs/{job_id}/weights", params=params)
        assert response.status_code == 200, response.text
        return response.content

    # -- the database, directly (what a dead worker leaves behind) ----------------------

    @contextmanager
    def db(self) -> Iterator[Any]:
        engine = create_engine(self.database_url, connect_args=sqlite_timeout(self.database_url))
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            engine.dispose()

    def expire_lease(self, job_id: str) -> None:
        """Make a running job's lease look long expired, as if its worker went silent."""
        past = datetime.now(UTC) - timedelta(hours=1)
        with self.db() as conn:
            result = conn.execute(
                update(JOBS).where(JOBS.c.id == job_id).values(lease_expires_at=past)
            )
            assert result.rowcount == 1

    def freeze(self, proc: subprocess.Popen[bytes], job_id: str) -> None:
        """SIGSTOP `proc` at a moment it holds no lock on the database or on `job_id`'s row.

        A process frozen inside a write transaction blocks every other writer until it
        thaws (SQLite's one writer, PostgreSQL's row lock); a real stalled worker loses its
        connection with its process, but this one stays alive, so the test would wait on
        it. Probe with a no-op update under a short lock timeout; if it is blocked, thaw,
        let the worker finish its write and try again."""
        sqlite = self.database_url.startswith("sqlite")
        for _ in range(200):
            proc.send_signal(signal.SIGSTOP)
            engine = create_engine(
                self.database_url, connect_args={"timeout": 0.2} if sqlite else {}
            )
            try:
                with engine.begin() as conn:
                    if not sqlite:
                        conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
                    conn.execute(
                        update(JOBS)
                        .where(JOBS.c.id == job_id)
                        .values(lease_expires_at=JOBS.c.lease_expires_at)
                    )
                return
            except OperationalError:
                proc.send_signal(signal.SIGCONT)
                time.sleep(0.02)
            finally:
                engine.dispose()
        raise AssertionError("the worker never paused outside a database write")

    def row(self, job_id: str) -> Any:
        with self.db() as conn:
            return conn.execute(select(JOBS).where(JOBS.c.id == job_id)).one()


@contextmanager
def deployment(tmp: Path, database_url: str | None = None, **settings: Any) -> Iterator[Deployment]:
    dep = Deployment(tmp, database_url, **settings)
    try:
        yield dep
    finally:
        dep.stop()
