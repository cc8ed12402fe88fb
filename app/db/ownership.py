"""Ownership: who may see which datasets, jobs and sweeps, enforced on every ORM query.

With API keys configured, datasets, jobs and sweeps get ``owner`` = SHA-256 of the key that
created them (the key itself is never stored). While a request made with a user key is
served, every ORM query of a session from :func:`app.db.session.make_sessionmaker` is
filtered to that owner (``with_loader_criteria`` added by a ``do_orm_execute`` hook), so
another owner's items are absent from reads and lists (the API answers 404), and new
rows are stamped with the owner at flush. Admin keys see everything; outside a request
(workers, tests, migrations) nothing is filtered.

The caller is a :class:`Principal` in a context variable, set by the API's
authentication middleware through :func:`acting_as`, so services need no extra
parameter.

Core statements (``app.jobqueue``'s transitions by id) are not ORM queries and are not
filtered: a service looks the job up through the ORM first before it calls a transition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from app.db.models import Dataset, Job, Sweep


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``owner`` (hash of the key; None when the API is open) and whether
    they see every owner's data."""

    owner: str | None
    admin: bool


def owner_of(key: str) -> str:
    """What is stored for a key: its SHA-256, hex (64 characters)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


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
