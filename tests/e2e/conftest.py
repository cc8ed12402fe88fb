"""Start the real ``backprop serve`` (uvicorn + worker processes) on a free port with a
temporary SQLite file, and drive it over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

MAX_BODY = 1_000_000  # bytes; small so the 413 path is cheap to exercise over real HTTP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def backprop_env(database: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    env.update(
        BACKPROP_DATABASE_URL=f"sqlite:///{database}",
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


def start_server(tmp: Path, workers: int, **extra_env: str) -> Server:
    port = free_port()
    env = backprop_env(tmp / "backprop.db", **extra_env)
    log = tmp / "serve.log"
    command = [str(Path(sys.executable).parent / "backprop"), "serve", "--port", str(port)]
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``backprop serve --workers 1`` shared by a test module."""
    server = start_server(tmp_path_factory.mktemp("serve"), workers=1)
    yield server
    server.client.close()
    server.stop()


def wait_for(get: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float = 60) -> Any:
    """Poll ``get()`` until ``predicate`` holds for its value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value: {value!r}")
        time.sleep(0.05)
