"""Servers for the tests: uvicorn in a thread of the test process (:class:`ThreadServer`)
and the real ``backprop serve`` as a child process (:func:`start_server`), plus a free
port to put them on and a poll-until helper to wait for them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from app.api.main import create_app
from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]  # the repository
BACKPROP = str(Path(sys.executable).with_name("backprop"))  # the console script
POLL = 0.05  # the event stream's database poll, shortened for the tests
MAX_BODY = 1_000_000  # bytes; small so the 413 path is cheap to exercise over real HTTP


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    get: Callable[[], Any],
    until: Callable[[Any], bool] = bool,
    *,
    timeout: float = 60,
    what: str = "a condition",
    interval: float = 0.05,
) -> Any:
    """Poll ``get()`` until ``until`` holds for its value (by default: until the value is
    truthy); return that value. Fails naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}; last value: {value!r}"
            )
        time.sleep(interval)


class ThreadServer:
    """uvicorn serving `create_app(settings)` on 127.0.0.1 from a background thread."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def backprop_env(database: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a ``backprop`` child process: this one's without any
    ``BACKPROP_*`` variable, then the database and fast-test settings, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    env.update(
        BACKPROP_DATABASE_URL=url,
        BACKPROP_CHECKPOINT_SECONDS="0",
        BACKPROP_POLL_INTERVAL="0.1",
        BACKPROP_CANCEL_POLL_SECONDS="0.2",
        BACKPROP_LOG_LEVEL="warning",
        BACKPROP_MAX_BODY_BYTES=str(MAX_BODY),
    )
    env.update(extra)
    return env


@dataclass
class Server:
    """A running ``backprop serve`` and a client for it."""

    process: subprocess.Popen[bytes]
    client: httpx.Client
    env: dict[str, str]
    log: Path

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_server(
    tmp: Path, workers: int | str, database_url: str | None = None, **extra_env: str
) -> Server:
    """``backprop serve --workers N`` (or ``auto``) on a free port, its output in
    ``tmp/serve.log``; returns once it answers ``/health``."""
    port = free_port()
    env = backprop_env(database_url or tmp / "backprop.db", **extra_env)
    log = tmp / "serve.log"
    command = [BACKPROP, "serve", "--port", str(port)]
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*command, "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.get("/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"backprop serve did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return Server(process, client, env, log)
