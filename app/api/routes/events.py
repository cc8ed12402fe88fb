"""``GET /v1/jobs/{id}/events``: live progress as Server-Sent Events (``app.api.sse``)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Header, HTTPException, Request, Response
from sse_starlette import EventSourceResponse

from app.api import sse
from app.schemas.common import error_responses
from app.schemas.events import stream_schema
from app.services.live import FINISHED, read_snapshot, require_job

router = APIRouter(tags=["live"])


@router.get(
    "/v1/jobs/{job_id}/events",
    summary="Live progress of a job (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses={
        200: {
            "content": {"text/event-stream": {"schema": stream_schema()}},
            "description": "`status`, `snapshot`, `metrics` and `end` events, resumable with "
            "Last-Event-ID. A reconnect after the end gets 204 No Content "
            "(an EventSource then stops reconnecting).",
        },
        204: {
            "description": "The job has ended and this client has had every event "
            "(a reconnect with the last Last-Event-ID)."
        },
        **error_responses(400, 404, 422),
    },
)
async def job_events(
    request: Request,
    job_id: str,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """Stream the job's status changes and per-epoch metrics until it finishes."""
    try:
        cursor = sse.Cursor.parse(last_event_id)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    first = await anyio.to_thread.run_sync(
        read_snapshot, request.app.state.sessionmaker, job_id, cursor.epoch
    )
    require_job(first, job_id)
    assert first is not None
    if (
        not cursor.fresh
        and cursor.status == first.job["status"]
        and cursor.status in FINISHED
        and not first.metrics
    ):
        return Response(status_code=204)
    return EventSourceResponse(
        sse.job_event_stream(request, job_id, cursor, first),
        ping=sse.PING_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
