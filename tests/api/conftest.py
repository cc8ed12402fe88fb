"""An in-process API client on a fresh migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of ``create_app(settings)`` with its lifespan running."""
    with TestClient(create_app(settings)) as client:
        yield client
