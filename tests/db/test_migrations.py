"""Alembic migrations build exactly the schema of the ORM models, idempotently."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from app.config import Settings
from app.db.migrate import upgrade_head
from app.db.models import Base
from tests.conftest import TEST_DATABASE_URL


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_head_is_idempotent(settings: Settings, engine: Engine) -> None:
    upgrade_head(settings)  # second run: already at head, nothing to do
    assert set(inspect(engine).get_table_names()) == {
        "alembic_version",
        "datasets",
        "jobs",
        "metrics",
        "idempotency_keys",
    }


@pytest.mark.skipif(
    TEST_DATABASE_URL is not None, reason="SQLite pragmas; testing on another database"
)
def test_connections_use_wal_busy_timeout_and_foreign_keys(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
