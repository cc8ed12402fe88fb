"""``/v1/jobs``: submit, list, get, cancel, delete; metrics, weights, predict."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response, status

from app.api.deps import SessionDep, SettingsDep, page_limit
from app.nn import Network
from app.schemas.common import error_responses
from app.schemas.jobs import (
    CREATE_EXAMPLES,
    PREDICT_EXAMPLES,
    Job,
    JobCreate,
    JobList,
    MetricsPage,
    PredictRequest,
    PredictResponse,
    Status,
    WeightsDocument,
)
from app.services import jobs

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
EPOCH_DOC = "The weights snapshot kept after this epoch (404 if none) instead of the final"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses=error_responses(404, 413, 422, 429, 507),
)
def create_job(
    body: Annotated[JobCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    session: SessionDep,
    settings: SettingsDep,
) -> Job:
    """Queue a training job after checking the spec against the dataset."""
    return jobs.view(session, jobs.create(session, settings, body))


@router.get("", response_model=JobList, responses=error_responses(422))
def list_jobs(
    session: SessionDep,
    settings: SettingsDep,
    status: Status | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> JobList:
    """Jobs, newest first, optionally only one ``status``."""
    limit = page_limit(limit, settings)
    rows, total = jobs.page(session, limit, offset, status)
    items = [jobs.view(session, r) for r in rows]
    return JobList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=Job, responses=error_responses(404))
def get_job(job_id: str, session: SessionDep) -> Job:
    """A job's status, progress (with ETA), timings, error, attempts, final metrics."""
    return jobs.view(session, jobs.get(session, job_id))


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses=error_responses(404, 409),
)
def cancel_job(job_id: str, session: SessionDep) -> Job:
    """Cancel a queued job at once; ask a running one to stop (within a second or two)."""
    return jobs.view(session, jobs.cancel(session, job_id))


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404),
)
def delete_job(job_id: str, session: SessionDep) -> Response:
    """Delete a job and its results; a running job stops at its next lease check."""
    jobs.remove(session, job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{job_id}/metrics", response_model=MetricsPage, responses=error_responses(404, 422))
def job_metrics(
    job_id: str,
    session: SessionDep,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Only epochs after this one")] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> MetricsPage:
    """The loss curve: one row per finished epoch, in order, paged by epoch."""
    limit = min(limit or settings.max_page_size, settings.max_page_size)
    return jobs.metrics_page(session, job_id, after, limit)


@router.get(
    "/{job_id}/weights",
    response_model=WeightsDocument,
    responses={
        200: {
            "description": "The weights document, or an .npz file with format=npz",
            "content": {"application/octet-stream": {}},
        },
        **error_responses(404, 409, 422),
    },
)
def job_weights(
    job_id: str,
    session: SessionDep,
    format: Literal["json", "npz"] = "json",
    epoch: Annotated[int | None, Query(ge=1, le=2**62, description=EPOCH_DOC)] = None,
) -> WeightsDocument | Response:
    """Trained weights: JSON document (Nielsen's ``n_l x n_{l-1}``) or ``format=npz``;
    with ``epoch``, the snapshot kept after that epoch (``training.snapshot_every``)."""
    npz = jobs.weights_npz(session, job_id, epoch)
    if format == "npz":
        name = f"weights-{job_id}" + (f"-epoch{epoch}" if epoch is not None else "")
        return Response(
            npz,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}.npz"'},
        )
    return WeightsDocument.model_validate(Network.from_npz(npz).to_document())


@router.post(
    "/{job_id}/predict",
    response_model=PredictResponse,
    responses=error_responses(404, 409, 413, 422),
)
def predict(
    job_id: str,
    body: Annotated[PredictRequest, Body(openapi_examples=PREDICT_EXAMPLES)],
    session: SessionDep,
) -> PredictResponse:
    """Outputs of the trained network for ``inputs``, and class labels for classifiers."""
    return jobs.predict(session, job_id, body.inputs)
