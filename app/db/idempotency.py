"""The store behind idempotent submits: one row per ``Idempotency-Key``.

A key is first *reserved* (one INSERT: the primary key makes the reservation atomic
across processes), then *completed* with the response to replay, or *released* when the
request failed. ``status_code`` NULL means the first request is still running. Each
function is one short transaction; the API's middleware (``app.api.idempotency``) runs
them in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import Engine, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.db.models import IdempotencyKey

idempotency_keys = cast(Table, IdempotencyKey.__table__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class StoredRequest:
    """A live key: the request it was first used for and, once done, its response."""

    path: str
    fingerprint: str
    status_code: int | None
    headers: list[list[str]]
    body: bytes


@dataclass(frozen=True)
class Reservation:
    """``reserved``: the key is ours now; ``existing``: it is taken (see ``stored``);
    ``contended``: others kept taking and releasing it while we tried."""

    outcome: Literal["reserved", "existing", "contended"]
    stored: StoredRequest | None = None


def reserve(
    engine: Engine, key: str, path: str, fingerprint: str, *, ttl: float, stale: float
) -> Reservation:
    """Reserve ``key`` for a request, unless a live entry holds it.

    An entry older than ``ttl`` seconds, or one still unfinished after ``stale`` seconds
    (its process died), is deleted and the key reserved anew.
    """
    now = _now()
    row = {"key": key, "method": "POST", "path": path, "fingerprint": fingerprint}
    for _ in range(3):
        try:
            with engine.begin() as conn:
                conn.execute(insert(idempotency_keys).values(**row, created_at=now))
            return Reservation("reserved")
        except IntegrityError:
            pass
        with engine.begin() as conn:
            found = conn.execute(
                select(idempotency_keys).where(idempotency_keys.c.key == key)
            ).one_or_none()
            if found is None:
                continue  # released in between: try to reserve again
            age = (now - found.created_at).total_seconds()
            if age > ttl or (found.status_code is None and age > stale):
                conn.execute(
                    delete(idempotency_keys).where(
                        idempotency_keys.c.key == key,
                        idempotency_keys.c.created_at == found.created_at,
                    )
                )
                continue
        stored = StoredRequest(
            path=found.path,
            fingerprint=found.fingerprint,
            status_code=found.status_code,
            headers=json.loads(found.headers or "[]"),
            body=found.body or b"",
        )
        return Reservation("existing", stored)
    return Reservation("contended")


def complete(engine: Engine, key: str, status: int, headers: list[list[str]], body: bytes) -> None:
    """Store the response of the request that holds ``key``."""
    with engine.begin() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == key)
            .values(status_code=status, headers=json.dumps(headers), body=body, completed_at=_now())
        )


def release(engine: Engine, key: str) -> None:
    """Forget an unfinished reservation (the request failed: the key may be reused)."""
    with engine.begin() as conn:
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.key == key, idempotency_keys.c.status_code.is_(None)
            )
        )


def purge_expired(engine: Engine, ttl_seconds: float) -> int:
    """Delete keys older than ``ttl_seconds``; returns how many (for a periodic sweep)."""
    cutoff = _now() - dt.timedelta(seconds=ttl_seconds)
    with engine.begin() as conn:
        result = conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
        )
    return result.rowcount
