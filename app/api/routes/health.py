"""``GET /health``: 200 when the database answers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import SessionDep
from app.db.models import Job
from app.schemas.common import ErrorResponse

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Liveness and a glance at the queue."""

    status: Literal["ok"]
    database: Literal["ok"]
    jobs: dict[str, int]


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": ErrorResponse, "description": "The database does not answer"}},
)
def health(session: SessionDep) -> Health:
    """Check the database and count jobs by status."""
    try:
        rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    except SQLAlchemyError as exc:
        raise HTTPException(503, f"database unavailable: {type(exc).__name__}") from exc
    return Health(status="ok", database="ok", jobs={status: n for status, n in rows})
