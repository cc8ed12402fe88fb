"""Shared fixtures: a migrated temporary database (SQLite, and PostgreSQL from a throwaway
cluster: every test that takes ``settings`` runs on both) with engine and sessions.
Plain helpers are in ``tests.helpers``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.migrate import upgrade_head
from app.db.session import make_engine, make_sessionmaker
from tests.helpers import BACKENDS, Cluster, External, fresh_database, make_settings, missing_reason

# An existing PostgreSQL database to use instead of starting a throwaway server (e.g.
# postgresql+psycopg://user@host/db_for_tests); each test gets a new schema in it.
TEST_DATABASE_URL = os.environ.get("BACKPROP_TEST_DATABASE_URL")


# -- databases ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster | External]:
    """PostgreSQL for the whole session: BACKPROP_TEST_DATABASE_URL, or a server started
    on 127.0.0.1 (skipped, with the reason, only where its binaries are not installed)."""
    if TEST_DATABASE_URL:
        yield External(TEST_DATABASE_URL)
        return
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    cluster = Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database: SQLite file, then PostgreSQL database."""
    return fresh_database(request, request.param, tmp_path / "backprop.db")


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings on a fresh, migrated database (each backend in turn)."""
    settings = make_settings(database_url)
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
