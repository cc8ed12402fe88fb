"""Ownership: who may see which datasets, jobs and sweeps, enforced on every ORM query.

With API keys configured, datasets, jobs and sweeps get ``owner`` = a slow, salted hash
of the key that created them (:func:`owner_of`; the key itself is never stored). While a
request made with a user key is served, every ORM query of a session from
:func:`app.db.session.make_sessionmaker` is filtered to that owner
(``with_loader_criteria`` added by a ``do_orm_execute`` hook), so another owner's items
are absent from reads and lists (the API answers 404), and new rows are stamped with the
owner at flush. Admin keys see everything; outside a request (workers, tests,
migrations) nothing is filtered.

The caller is a :class:`Principal` in a context variable, set by the API's
authentication middleware through :func:`acting_as`, so services need no extra
parameter.

Core statements (``app.jobqueue``'s transitions by id) are not ORM queries and are not
filtered: a service looks the job up through the ORM first before it calls a transition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, event, update
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from app.db.models import Dataset, Job, Sweep


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``owner`` (hash of the key; None when the API is open) and whether
    they see every owner's data."""

    owner: str | None
    admin: bool


#: PBKDF2-HMAC-SHA256 parameters of :func:`owner_of`. The salt is fixed (an owner id
#: must be derivable from the key alone, to find its rows), so it only keeps generic
#: precomputed tables useless; the iterations make every guess of a key cost as much as
#: this many hashes (OWASP's 2023 figure). Keys are configured, so each is derived once
#: per process, at start-up, never per request.
OWNER_SALT = b"backprop/owner/v2"
OWNER_ITERATIONS = 600_000


@lru_cache(maxsize=256)
def owner_of(key: str) -> str:
    """What is stored for a key: PBKDF2-HMAC-SHA256 of it, hex (64 characters)."""
    derived = hashlib.pbkdf2_hmac("sha256", key.encode("utf-8"), OWNER_SALT, OWNER_ITERATIONS)
    return derived.hex()


def legacy_owner_of(key: str) -> str:
    """The owner id stored before :func:`owner_of`: the key's plain SHA-256."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def adopt_legacy_owners(engine: Engine, keys: Iterable[str]) -> int:
    """Re-stamp rows stored under a configured key's plain SHA-256 with its current owner
    id (one UPDATE per table and key; none once done). Returns the rows re-stamped."""
    moved = 0
    with engine.begin() as conn:
        for key in keys:
            old, new = legacy_owner_of(key), owner_of(key)
            for model in (Dataset, Job):
                result = conn.execute(update(model).where(model.owner == old).values(owner=new))
                moved += result.rowcount
    return moved


_principal: ContextVar[Principal | None] = ContextVar("backprop_principal", default=None)


def current_principal() -> Principal | None:
    """The principal of the request being served (None: no filtering)."""
    return _principal.get()


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """Run the enclosed code (one request) as ``principal``."""
    token = _principal.set(principal)
    try:
        yield
    finally:
        _principal.reset(token)


def owner_scoped_key(key: str) -> str:
    """An ``Idempotency-Key`` as stored: as sent when the API is open, else a hash of the
    caller's owner and the key (66 characters), so the same key string from two owners
    names two entries and one owner's retry never replays another owner's response."""
    principal = _principal.get()
    if principal is None or principal.owner is None:
        return key
    return "o:" + hashlib.sha256(f"{principal.owner}\0{key}".encode()).hexdigest()


def _filter_by_owner(state: ORMExecuteState) -> None:
    """A user key's request sees only its own datasets, jobs and sweeps (SELECT/UPDATE/DELETE)."""
    principal = _principal.get()
    if principal is None or principal.admin or state.is_column_load:
        return
    if state.is_select or state.is_update or state.is_delete:
        owner = principal.owner
        state.statement = state.statement.options(
            with_loader_criteria(Dataset, Dataset.owner == owner, include_aliases=True),
            with_loader_criteria(Job, Job.owner == owner, include_aliases=True),
            with_loader_criteria(Sweep, Sweep.owner == owner, include_aliases=True),
        )


def _stamp_owner(session: Session, _context: Any, _instances: Any) -> None:
    """New datasets, jobs and sweeps belong to the key of the request that creates them."""
    principal = _principal.get()
    if principal is None or principal.owner is None:
        return
    for obj in session.new:
        if isinstance(obj, Dataset | Job | Sweep) and obj.owner is None:
            obj.owner = principal.owner


def install_ownership(sessions: sessionmaker[Session]) -> None:
    """Filter and stamp every session ``sessions`` makes (see the module docstring)."""
    event.listen(sessions, "do_orm_execute", _filter_by_owner)
    event.listen(sessions, "before_flush", _stamp_owner)
