"""Shared fixtures and factories: a migrated temporary SQLite database, settings,
datasets and job specs."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.migrate import upgrade_head
from app.db.models import Dataset
from app.db.session import make_engine, make_sessionmaker
from app.db.types import utcnow


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


XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_TARGETS = np.array([[0], [1], [1], [0]], dtype=np.float64)


def make_settings(path: Path, **overrides: Any) -> Settings:
    """Settings on a temporary SQLite file, tuned for fast tests."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{path}",
        "checkpoint_seconds": 0.0,
        "cancel_poll_seconds": 0.05,
        "poll_interval": 0.05,
    }
    values.update(overrides)
    return Settings(**values)


# Set to a PostgreSQL URL (e.g. postgresql+psycopg://user@host/db_for_tests) to run the
# database tests there instead of SQLite; its public schema is wiped before each test.
TEST_DATABASE_URL = os.environ.get("BACKPROP_TEST_DATABASE_URL")


def reset_schema(url: str) -> None:
    """Drop everything in the test database's public schema."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh, migrated SQLite file (or BACKPROP_TEST_DATABASE_URL)."""
    if TEST_DATABASE_URL:
        reset_schema(TEST_DATABASE_URL)
        settings = make_settings(tmp_path / "unused.db", database_url=TEST_DATABASE_URL)
    else:
        settings = make_settings(tmp_path / "backprop.db")
    upgrade_head(settings)
    return settings


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the test database."""
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on the test database."""
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session on the test database."""
    with sessions() as session:
        yield session


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
