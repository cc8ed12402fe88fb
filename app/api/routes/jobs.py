"""``/v1/jobs``: submit, list, get, cancel, delete; metrics, weights, predict."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Body, Query, Response, status
from sqlalchemy.orm import Session

from app import jobqueue
from app.api.deps import SessionDep, SettingsDep
from app.db import queries
from app.db.models import Job as JobRow
from app.db.models import JobStatus
from app.errors import Conflict, InvalidInput
from app.jobspec import check_job
from app.limits import Limits, queued_jobs
from app.nn import Network, predict_labels
from app.schemas.common import error_responses, example
from app.schemas.jobs import (
    XOR_NETWORK,
    XOR_TRAINING,
    Job,
    JobCreate,
    JobList,
    MetricRow,
    MetricsPage,
    PredictRequest,
    PredictResponse,
    Progress,
    Status,
    WeightsDocument,
)

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def job_out(session: Session, row: JobRow) -> Job:
    """The API view of a job row, with an ETA while it runs."""
    eta = None
    if row.status == JobStatus.running.value:
        mean = queries.mean_epoch_seconds(session, row.id)
        if mean is not None:
            eta = round(mean * max(row.epochs - row.epoch, 0), 3)
    return Job(
        id=row.id,
        status=row.status,  # type: ignore[arg-type]
        dataset_id=row.dataset_id,
        network=row.network,
        training=row.training,
        progress=Progress(epoch=row.epoch, epochs=row.epochs, eta_seconds=eta),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        attempts=row.attempts,
        cancel_requested=row.cancel_requested,
        final_metrics=row.final_metrics,
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses=error_responses(404, 413, 422, 429),
)
def create_job(
    body: Annotated[
        JobCreate,
        Body(
            openapi_examples={
                "xor": example(
                    "Train XOR on the newest dataset named 'xor'",
                    {"dataset_name": "xor", "network": XOR_NETWORK, "training": XOR_TRAINING},
                ),
                "by_id": example(
                    "Train on a dataset by id (paste an id from POST /v1/datasets/generate)",
                    {
                        "dataset_id": "<dataset id>",
                        "network": XOR_NETWORK,
                        "training": XOR_TRAINING,
                    },
                ),
            }
        ),
    ],
    session: SessionDep,
    settings: SettingsDep,
) -> Job:
    """Queue a training job after checking the spec against the dataset."""
    if body.dataset_id is not None:
        dataset = queries.get_dataset(session, body.dataset_id)
    else:
        dataset = queries.find_dataset_by_name(session, str(body.dataset_name))
    Limits.from_settings(settings).check_job(
        body.network.sizes, body.training.epochs, queued_jobs(session)
    )
    network = body.network.model_dump()
    training = body.training.model_dump()
    initial = (
        [layer.model_dump(exclude_none=True) for layer in body.initial_weights]
        if body.initial_weights is not None
        else None
    )
    check_job(network, training, initial, dataset)
    row = jobqueue.submit(
        session,
        dataset=dataset,
        network=network,
        training=training,
        initial_weights=initial,
        max_attempts=settings.max_attempts,
    )
    return job_out(session, row)


@router.get("", response_model=JobList, responses=error_responses(422))
def list_jobs(
    session: SessionDep,
    settings: SettingsDep,
    status: Status | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> JobList:
    """Jobs, newest first, optionally only one ``status``."""
    limit = min(limit or settings.page_size, settings.max_page_size)
    rows, total = queries.list_jobs(session, limit, offset, status)
    return JobList(
        items=[job_out(session, r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{job_id}", response_model=Job, responses=error_responses(404))
def get_job(job_id: str, session: SessionDep) -> Job:
    """A job's status, progress (with ETA), timings, error, attempts, final metrics."""
    return job_out(session, queries.get_job(session, job_id))


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses=error_responses(404, 409),
)
def cancel_job(job_id: str, session: SessionDep) -> Job:
    """Cancel a queued job at once; ask a running one to stop (within a second or two)."""
    queries.get_job(session, job_id)  # 404 unless the caller may see it (app.auth)
    session.rollback()  # end the read; the job is read afresh below
    jobqueue.request_cancel(session, job_id)
    return job_out(session, queries.get_job(session, job_id))


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404),
)
def delete_job(job_id: str, session: SessionDep) -> Response:
    """Delete a job and its results; a running job stops at its next lease check."""
    queries.get_job(session, job_id)  # 404 unless the caller may see it (app.auth)
    session.rollback()
    jobqueue.delete_job(session, job_id)
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
    job = queries.get_job(session, job_id)
    limit = min(limit or settings.max_page_size, settings.max_page_size)
    rows = queries.list_metrics(session, job_id, after, limit)
    items = [MetricRow.model_validate(r) for r in rows]
    next_after = items[-1].epoch if len(items) == limit else None
    return MetricsPage(
        job_id=job_id,
        status=job.status,  # type: ignore[arg-type]
        items=items,
        next_after=next_after,
    )


def _network(session: Session, job_id: str) -> tuple[JobRow, Network]:
    job = queries.get_job(session, job_id, weights=True)
    if job.weights is None:
        raise Conflict(f"job {job_id!r} has no weights yet (status: {job.status})")
    return job, Network.from_npz(job.weights)


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
    job_id: str, session: SessionDep, format: Literal["json", "npz"] = "json"
) -> WeightsDocument | Response:
    """Trained weights: JSON document (Nielsen's ``n_l x n_{l-1}``) or ``format=npz``."""
    job, net = _network(session, job_id)
    if format == "npz":
        assert job.weights is not None
        return Response(
            job.weights,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="weights-{job_id}.npz"'},
        )
    return WeightsDocument.model_validate(net.to_document())


@router.post(
    "/{job_id}/predict",
    response_model=PredictResponse,
    responses=error_responses(404, 409, 413, 422),
)
def predict(
    job_id: str,
    body: Annotated[
        PredictRequest,
        Body(
            openapi_examples={
                "xor": example("The four XOR corners", {"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]]})
            }
        ),
    ],
    session: SessionDep,
) -> PredictResponse:
    """Outputs of the trained network for ``inputs``, and class labels for classifiers."""
    job, net = _network(session, job_id)
    n_in = net.sizes[0]
    for i, row in enumerate(body.inputs):
        if len(row) != n_in:
            raise InvalidInput(f"inputs[{i}]", f"expected {n_in} values, got {len(row)}")
    x = np.asarray(body.inputs, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x))[0][0])
        raise InvalidInput(f"inputs[{bad}]", "values must be finite numbers (no NaN or inf)")
    outputs = np.asarray(net.forward(x), dtype=np.float64)
    labels = None
    if job.task == "classification":
        indices = predict_labels(outputs)
        classes = job.classes
        labels = [classes[int(i)] if classes else str(int(i)) for i in indices]
    return PredictResponse(outputs=outputs.tolist(), labels=labels)
