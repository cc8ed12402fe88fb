"""Apply Alembic migrations programmatically (``backprop serve``, ``backprop migrate``,
the worker at start). ``upgrade head`` is idempotent; concurrent starters retry."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from app.config import Settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class _Quiet(logging.Filter):
    """Alembic's start-up chatter at INFO (plugin set-up, the dialect it found) is noise
    in every start's log; what it migrated ("Running upgrade 0002 -> 0003") stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or record.getMessage().startswith("Running")


# Installed before Alembic is imported: its plugins announce themselves at import.
for _name in ("alembic.runtime.plugins", "alembic.runtime.migration"):
    logging.getLogger(_name).addFilter(_Quiet())


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at this package's migrations and ``database_url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_head(settings: Settings, attempts: int = 5) -> None:
    """Bring the database to the latest schema; retry if another process races us."""
    from alembic import command

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
