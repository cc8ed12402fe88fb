"""Stopping the server while an event stream's database read is running in its thread."""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.api import sse
from app.config import Settings
from app.services import live
from tests.helpers import POLL, ThreadServer, make_dataset, make_job


def test_a_read_running_at_shutdown_returns_its_connection_before_dispose(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # uvicorn cancels the open stream at shutdown but the poll's worker thread keeps its
    # connection until the read ends; handed back after engine.dispose(), it would land in
    # the discarded pool unclosed (psycopg: "deleted while still open", an error here).
    monkeypatch.setattr(sse, "POLL_SECONDS", POLL)
    slow, reading, done = threading.Event(), threading.Event(), threading.Event()

    def slow_snapshot(sessions: Any, job_id: str, after_epoch: int = 0) -> Any:
        if slow.is_set():
            with sessions() as session:
                session.execute(text("SELECT 1"))
                reading.set()
                time.sleep(3)  # longer than uvicorn's graceful shutdown (2 s)
            done.set()
        return live.read_snapshot(sessions, job_id, after_epoch)

    monkeypatch.setattr(sse, "read_snapshot", slow_snapshot)
    server = ThreadServer(settings).__enter__()
    with httpx.Client(base_url=server.url) as api:
        job = make_job(api, make_dataset(api), epochs=10)

    def follow() -> None:
        try:
            with httpx.stream(
                "GET", f"{server.url}/v1/jobs/{job['id']}/events", timeout=20
            ) as response:
                for _ in response.iter_lines():
                    pass
        except httpx.HTTPError:
            pass  # the server went away: expected

    client = threading.Thread(target=follow, daemon=True)
    client.start()
    time.sleep(0.3)
    slow.set()
    assert reading.wait(5), "the stream never polled"
    server.__exit__()
    assert not server.thread.is_alive()
    client.join(timeout=5)
    assert done.wait(5), "the slow read never finished"
    time.sleep(0.1)  # the session's close hands the connection back just after
    gc.collect()  # an unclosed connection warns here, and the suite makes it an error
