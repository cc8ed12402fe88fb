"""Fixtures for the backprop-inspection tests: the app in-process on a temporary database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_head
from tests.helpers import make_settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A TestClient (lifespan run) on the migrated temporary SQLite file of `settings`."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app per module, for tests that only POST /v1/backprop (it stores nothing)."""
    settings = make_settings(tmp_path_factory.mktemp("backprop") / "backprop.db")
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        yield client
