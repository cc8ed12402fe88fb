"""What a database error means for a caller: the disk is full, or the database is not
answering (down, restarting, locked too long), or neither (a bug: let it surface).

The only place that knows the two dialects' error codes: SQLite's result codes
(``sqlite3.Error.sqlite_errorcode``) and PostgreSQL's SQLSTATEs (psycopg's ``sqlstate``).
"""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("backprop.db")

SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN = 5, 6, 10, 13, 14
#: PostgreSQL SQLSTATE classes and codes: connection exception, operator intervention
#: (admin shutdown, cannot connect now), insufficient resources / disk full.
PG_UNAVAILABLE_CLASSES = ("08", "57")
PG_DISK_FULL = "53100"
PG_TOO_MANY_CONNECTIONS = "53300"


class Fault(StrEnum):
    """What went wrong with the database, as far as a caller can act on it."""

    full = "full"  # no space left for the write: 507, retry after freeing space
    unavailable = "unavailable"  # not answering now: 503, retry shortly


def classify(exc: BaseException) -> Fault | None:
    """The fault behind a SQLAlchemy/driver error, or None when it is not one."""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return Fault.unavailable
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        if primary == SQLITE_FULL:
            return Fault.full
        if primary in (SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN):
            return Fault.unavailable
        return None
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate == PG_DISK_FULL:
            return Fault.full
        if sqlstate[:2] in PG_UNAVAILABLE_CLASSES or sqlstate == PG_TOO_MANY_CONNECTIONS:
            return Fault.unavailable
        return None
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Fault.unavailable
    # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all.
    if type(original).__name__ in ("OperationalError", "InterfaceError") and code is None:
        return Fault.unavailable
    return None


def cause(exc: BaseException) -> str:
    """The first line of the driver's message behind a database error (SQLAlchemy's own
    adds the statement and a help link)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases and in-memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file::memory:"):
        return None
    return Path(parsed.database)


def free_bytes(url: str) -> int | None:
    """Free space on the SQLite database's volume (None: not a SQLite file, or unknown)."""
    path = sqlite_path(url)
    if path is None:
        return None
    try:
        stats = os.statvfs(path.resolve().parent)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def release_space(engine: Engine) -> None:
    """After a write failed for lack of space: give the write-ahead log's space back
    (SQLite: a truncating checkpoint; it succeeds when every committed change is already
    in the database file, and then the failed write's pages no longer fill the volume)."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as conn:
            busy, log_frames, moved = conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).one()
    except SQLAlchemyError as exc:
        log.warning("could not truncate the write-ahead log: %s", exc.__class__.__name__)
        return
    if busy:
        log.info("write-ahead log not truncated: busy (%d of %d frames moved)", moved, log_frames)
