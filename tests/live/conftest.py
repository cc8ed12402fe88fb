"""Fixtures of the live tests: a real uvicorn server on the test database, run in a
thread of the test process, and a `driver` that moves jobs through their lifecycle."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.api.routes import events
from app.config import Settings
from tests.helpers import POLL, Driver, ThreadServer


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadServer]:
    monkeypatch.setattr(events, "POLL_SECONDS", POLL)
    with ThreadServer(settings) as running:
        yield running


@pytest.fixture
def api(server: ThreadServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def driver(settings: Settings) -> Iterator[Driver]:
    d = Driver(settings)
    yield d
    d.close()
