"""Can the database be read, can it be written, and how many jobs are in each status."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.faults import Fault, cause, classify
from app.db.models import HealthProbe, Job
from app.db.types import utcnow
from app.errors import StorageFull, Unavailable

PROBE = f"api@{socket.gethostname()}"[:64]


@dataclass(frozen=True)
class Health:
    """The database answers reads and accepts a write; jobs counted by status."""

    jobs: dict[str, int]


def job_counts(session: Session) -> dict[str, int]:
    """Jobs per status; Unavailable when the database cannot be read."""
    try:
        rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    except SQLAlchemyError as exc:
        raise Unavailable(f"database unavailable (cannot read): {cause(exc)}") from exc
    return {status: n for status, n in rows}


def check(session: Session) -> Health:
    """Read the job counts, then rewrite this process's probe row (one tiny commit).

    Unavailable (503) when the database cannot be read; StorageFull (507) or Unavailable
    (503) naming the cause when it can be read but not written.
    """
    counts = job_counts(session)
    try:
        now = utcnow()
        written = session.execute(
            update(HealthProbe).where(HealthProbe.name == PROBE).values(written_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if not written:
            session.add(HealthProbe(name=PROBE, written_at=now))
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        message = f"database cannot write: {cause(exc)}"
        if classify(exc) is Fault.full:
            raise StorageFull(message) from exc
        raise Unavailable(message) from exc
    return Health(jobs=counts)
