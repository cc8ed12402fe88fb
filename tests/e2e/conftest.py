"""The real ``backprop serve`` (uvicorn + worker processes) for a test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import BACKENDS, Server, fresh_database, start_server


@pytest.fixture(scope="module", params=BACKENDS)
def module_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``backprop serve --workers 1`` shared by a test module (SQLite, then PostgreSQL)."""
    tmp = tmp_path_factory.mktemp("serve")
    url = fresh_database(request, request.param, tmp / "backprop.db")
    server = start_server(tmp, workers=1, database_url=url)
    yield server
    server.client.close()
    server.stop()
