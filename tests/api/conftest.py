"""An in-process API client on a fresh migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.main import create_app
from app.config import Settings
from app.db.models import Dataset, Job, Metric


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of ``create_app(settings)`` with its lifespan running."""
    with TestClient(create_app(settings)) as client:
        yield client


def counts(session: Session) -> dict[str, int]:
    """Rows per table: checks that a refused request stored nothing."""
    session.expire_all()
    return {
        table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
        for table in (Dataset, Job, Metric)
    }


def xor_dataset(client: TestClient, **overrides: Any) -> dict[str, Any]:
    """Generate a seeded XOR dataset through the API."""
    body = {"kind": "xor", "n_samples": 40, "noise": 0.05, "seed": 1}
    body.update(overrides)
    response = client.post("/v1/datasets/generate", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data
