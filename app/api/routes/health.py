"""``GET /health``: 200 when the database answers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import SessionDep
from app.schemas.common import ErrorResponse
from app.services import health as service

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
    return Health(status="ok", database="ok", jobs=service.job_counts(session))
