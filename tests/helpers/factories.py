"""Factories: settings on a test database, rows and request bodies, and the database
backends every database-facing test runs on."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import jobqueue
from app.config import Settings
from app.db.models import Dataset, Job, Metric
from app.db.types import utcnow
from tests.helpers.postgres import Cluster, External

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_TARGETS = np.array([[0], [1], [1], [0]], dtype=np.float64)

# The keys of the `keyed_settings` fixture: two users and an administrator.
API_KEY = "alice-key-0123456789"
OTHER_API_KEY = "bob-key-9876543210"
ADMIN_API_KEY = "root-admin-key-42"


def npy(array: np.ndarray) -> bytes:
    """``.npy`` bytes of an array (what the datasets table stores)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def network_spec(**overrides: Any) -> dict[str, Any]:
    """A 2-8-1 sigmoid / cross-entropy network (XOR-sized), as the API takes it."""
    spec: dict[str, Any] = {
        "sizes": [2, 8, 1],
        "hidden_activation": "sigmoid",
        "output_activation": "sigmoid",
        "cost": "cross_entropy",
        "init": "default",
    }
    spec.update(overrides)
    return spec


def training_config(**overrides: Any) -> dict[str, Any]:
    """A short, fast training configuration."""
    config: dict[str, Any] = {"epochs": 5, "batch_size": 4, "learning_rate": 0.5, "seed": 0}
    config.update(overrides)
    return config


def make_settings(path: Path | str, **overrides: Any) -> Settings:
    """Settings on a temporary SQLite file (or a database URL), tuned for fast tests."""
    url = path if isinstance(path, str) and "://" in path else f"sqlite:///{path}"
    values: dict[str, Any] = {
        "database_url": url,
        "checkpoint_seconds": 0.0,
        "cancel_poll_seconds": 0.05,
        "poll_interval": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


def fresh_database(request: pytest.FixtureRequest, backend: str, sqlite_file: Path) -> str:
    """URL of a new empty database on ``backend``, dropped when ``request`` ends."""
    if backend == "sqlite":
        return f"sqlite:///{sqlite_file}"
    cluster: Cluster | External = request.getfixturevalue("postgres")
    url: str = cluster.create_database()
    request.addfinalizer(lambda: cluster.drop_database(url))
    return url


def add_dataset(
    session: Session,
    inputs: np.ndarray = XOR_INPUTS,
    targets: np.ndarray = XOR_TARGETS,
    task: str = "classification",
    classes: list[str] | None = None,
    name: str = "xor",
) -> Dataset:
    """Insert a dataset row directly (bypassing the API)."""
    row = Dataset(
        name=name,
        n_samples=int(inputs.shape[0]),
        n_features=int(inputs.shape[1]),
        n_outputs=int(targets.shape[1]),
        task=task,
        classes=classes
        if classes is not None
        else (["0", "1"] if task == "classification" else None),
        inputs=npy(inputs),
        targets=npy(targets),
        created_at=utcnow(),
    )
    session.add(row)
    session.commit()
    return row


def submit_job(session: Session, max_attempts: int = 3, **training: Any) -> Job:
    """Queue a job with the default network on a new XOR dataset (bypassing the API);
    ``training`` overrides fields of the default training config."""
    return jobqueue.submit(
        session,
        dataset=add_dataset(session),
        network=network_spec(),
        training=training_config(**training),
        initial_weights=None,
        max_attempts=max_attempts,
    )


def counts(session: Session) -> dict[str, int]:
    """Rows per table: checks that a refused request stored nothing."""
    session.expire_all()
    return {
        table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
        for table in (Dataset, Job, Metric)
    }


def xor_dataset(client: Any, **overrides: Any) -> dict[str, Any]:
    """Generate a seeded XOR dataset through the API (``client``: any httpx client,
    a TestClient included)."""
    body = {"kind": "xor", "n_samples": 40, "noise": 0.05, "seed": 1}
    body.update(overrides)
    response = client.post("/v1/datasets/generate", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data
