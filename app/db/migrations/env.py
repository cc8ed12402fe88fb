"""Alembic environment: runs migrations on the service's own engine (same pragmas)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Engine

from app.config import Settings
from app.db.models import Base
from app.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    if config.config_file_name is not None and os.environ.get("BACKPROP_DATABASE_URL"):
        url = os.environ["BACKPROP_DATABASE_URL"]  # alembic CLI: the environment wins
    return make_engine(Settings(database_url=url))


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations through a live connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = _engine()
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
