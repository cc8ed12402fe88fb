"""Alembic migrations build exactly the schema of the ORM models, idempotently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from app.config import Settings
from app.db.migrate import upgrade_head
from app.db.models import Base
from app.db.session import make_engine
from tests.helpers import ROOT, make_settings


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
        "health_probe",
        "weight_snapshots",
        "sweeps",
        "sweep_trials",
    }


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(make_settings(tmp_path / "pragmas.db"))  # SQLite only
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
            assert conn.execute(text("PRAGMA journal_size_limit")).scalar() == 64 * 2**20
    finally:
        engine.dispose()


def test_migrating_logs_what_it_migrated_and_nothing_else(tmp_path: Path) -> None:
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout);"
        "from app.config import Settings; from app.db.migrate import upgrade_head;"
        f"upgrade_head(Settings(database_url='sqlite:///{tmp_path / 'm.db'}'))"
    )
    run = [sys.executable, "-c", code]
    first = subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    lines = first.splitlines()
    assert lines and all(line.startswith("INFO:alembic.runtime.migration:Running upgrade")
                         for line in lines), first  # fmt: skip
    again = subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert again == ""  # at head: a start logs nothing about the schema
