"""Apply Alembic migrations programmatically (``backprop serve``, ``backprop migrate``,
the worker at start). ``upgrade head`` is idempotent; concurrent starters retry."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import OperationalError

from app.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at this package's migrations and ``database_url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_head(settings: Settings, attempts: int = 5) -> None:
    """Bring the database to the latest schema; retry if another process races us."""
    cfg = alembic_config(settings.database_url)
    for attempt in range(1, attempts + 1):
        try:
            command.upgrade(cfg, "head")
            return
        except OperationalError:
            # Two processes creating the same tables: the loser retries and finds head.
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
