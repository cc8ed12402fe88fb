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
    responses={
        503: {
            "model": ErrorResponse,
            "description": "The database cannot be read (`database unavailable (cannot "
            "read): …`) or cannot be written (`database cannot write: …`); `Retry-After`",
        },
        507: {
            "model": ErrorResponse,
            "description": "The database can be read but its disk is full "
            "(`database cannot write: database or disk is full`)",
        },
    },
)
def health(session: SessionDep) -> Health:
    """Check that the database answers a read and accepts a write; count jobs by status."""
    return Health(status="ok", database="ok", jobs=service.check(session).jobs)
