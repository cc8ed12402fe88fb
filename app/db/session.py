"""Engine and session factory, with the SQLite pragmas the job queue relies on.

SQLite: WAL (readers never block the writer), a busy timeout (writers queue instead of
failing with "database is locked"), foreign keys on, ``synchronous=NORMAL`` (safe in WAL),
and a bound on the write-ahead log's size once checkpointed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.ownership import install_ownership


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_serializer(value: Any) -> str:
    """JSON columns as strict JSON: NaN/inf become null. PostgreSQL's json type refuses
    Python's ``NaN``/``Infinity`` tokens (a diverging job's health metrics have them), and
    responses could not carry them either; SQLite and PostgreSQL now store the same."""
    try:
        return json.dumps(value, allow_nan=False)  # the usual case: every float finite
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


WAL_SIZE_LIMIT = 64 * 1024 * 1024


def make_engine(settings: Settings, *, sqlite_mmap_bytes: int = 0) -> Engine:
    """An engine for ``settings.database_url``; SQLite connections get the pragmas.

    ``sqlite_mmap_bytes``: let SQLite read the file through a memory map of up to that
    size (``PRAGMA mmap_size``). A worker loading a 50 MB dataset blob then copies it
    out of the map instead of making a read call per 4 KB page (about a third faster).
    """
    url = settings.database_url
    connect_args: dict[str, Any] = {}
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        connect_args = {
            "check_same_thread": False,
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
        }
    engine = create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=not is_sqlite,
        json_serializer=json_serializer,
    )
    if is_sqlite:
        busy = settings.sqlite_busy_timeout_ms

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # After a checkpoint the write-ahead log is cut back to this size, so one
            # large write (a dataset upload) does not keep its size on the volume for good.
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            if sqlite_mmap_bytes:
                cursor.execute(f"PRAGMA mmap_size={int(sqlite_mmap_bytes)}")
            cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (responses read them later),
    filtered to the current caller's datasets and jobs (``app.db.ownership``)."""
    sessions = sessionmaker(engine, expire_on_commit=False)
    install_ownership(sessions)
    return sessions


def rowcount(result: Any) -> int:
    """Rows matched by an UPDATE/DELETE result."""
    return int(getattr(result, "rowcount", 0) or 0)
