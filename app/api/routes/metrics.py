"""``GET /metrics``: Prometheus text exposition (docs/metrics.md).

Left out of the OpenAPI document: it is not JSON and not part of the REST contract, and
Prometheus is its client. Who may read it is decided in ``app/api/auth.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import SessionsDep
from app.services import metrics as service

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, sessions: SessionsDep) -> Response:
    """Every process's samples and the job counts."""
    local = [request.app.state.metrics_registry]
    body = await run_in_threadpool(service.scrape, sessions, local)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
