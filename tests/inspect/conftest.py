"""Fixtures for the backprop-inspection tests: the app in-process on a temporary database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A TestClient (lifespan run) on the migrated temporary SQLite file of `settings`."""
    with TestClient(create_app(settings)) as client:
        yield client
