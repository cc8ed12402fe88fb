"""Is the database answering, and how many jobs are in each status."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.models import Job
from app.errors import Unavailable


def job_counts(session: Session) -> dict[str, int]:
    """Jobs per status; Unavailable when the database does not answer."""
    try:
        rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    except SQLAlchemyError as exc:
        raise Unavailable(f"database unavailable: {type(exc).__name__}") from exc
    return {status: n for status, n in rows}
