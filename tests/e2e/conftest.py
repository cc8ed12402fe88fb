"""The real ``backprop serve`` (uvicorn + worker processes) for a test module."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BACKENDS, BACKPROP, Server, fresh_database, start_server


def serve_for_module(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, workers: int
) -> Iterator[Server]:
    """``backprop serve --workers N`` on a fresh database of the fixture's backend, for a
    module-scoped fixture to yield from."""
    tmp = tmp_path_factory.mktemp("serve")
    url = fresh_database(request, request.param, tmp / "backprop.db")
    server = start_server(tmp, workers=workers, database_url=url)
    yield server
    server.client.close()
    server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def module_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``backprop serve --workers 1`` shared by a test module (SQLite, then PostgreSQL)."""
    yield from serve_for_module(request, tmp_path_factory, workers=1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`backprop serve --workers 1` on a free port; yields the environment for clients."""
    server = start_server(tmp_path, workers=1)
    try:
        yield {**server.env, "BACKPROP_URL": str(server.client.base_url).rstrip("/")}
    finally:
        server.client.close()
        try:
            server.stop()
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def backprop(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``backprop`` console script with ``env``; its output as text."""
    return subprocess.run([BACKPROP, *args], env=env, capture_output=True, text=True, timeout=120)
