"""Reads the live routes need (events, plots), each in a short session of its own.

The event stream outlives any request-scoped session, so these helpers open one session
per call from the app's session factory and return plain data (dicts, arrays, bytes),
never ORM objects. Job documents are built by the jobs router's `job_out`, so an event
carries exactly what GET /v1/jobs/{id} shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker, undefer

from app.api.routes.jobs import job_out
from app.db.models import FINISHED_STATUSES, Dataset, Job, JobStatus, Metric
from app.errors import Conflict, NotFound

STATUSES = frozenset(s.value for s in JobStatus)
FINISHED = frozenset(FINISHED_STATUSES)
METRIC_KEYS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "validation_loss",
    "validation_accuracy",
    "learning_rate",
    "seconds",
)


@dataclass(frozen=True)
class JobSnapshot:
    """A job document and its metrics after some epoch, read in one transaction."""

    job: dict[str, Any]
    metrics: list[dict[str, Any]]


def _sessions(app: FastAPI) -> sessionmaker[Session]:
    return app.state.sessionmaker  # type: ignore[no-any-return]


def metric_item(row: Metric) -> dict[str, Any]:
    """A metrics row as the /metrics endpoint lists it (without per-layer health)."""
    return {key: getattr(row, key) for key in METRIC_KEYS}


def read_snapshot(app: FastAPI, job_id: str, after_epoch: int = 0) -> JobSnapshot | None:
    """The job, then its metrics after `after_epoch`; None when there is no such job.

    The job row is read first: a worker records an epoch's metrics before it finishes
    the job, so a finished status read here guarantees every metric is in the second read.
    """
    with _sessions(app)() as session, session.begin():
        job = session.get(Job, job_id)
        if job is None:
            return None
        document = job_out(session, job).model_dump(mode="json")
        rows = session.scalars(
            select(Metric)
            .where(Metric.job_id == job_id, Metric.epoch > after_epoch)
            .order_by(Metric.epoch)
        )
        return JobSnapshot(job=document, metrics=[metric_item(r) for r in rows])


def require_job(snapshot: JobSnapshot | None, job_id: str) -> JobSnapshot:
    """The snapshot, or the service's 404 for an unknown job."""
    if snapshot is None:
        raise NotFound("job", job_id)
    return snapshot


@dataclass(frozen=True)
class BoundaryInputs:
    """What a decision-boundary plot needs: the job, its 2-D dataset and some weights."""

    job: dict[str, Any]
    task: str
    classes: list[str] | None
    inputs: np.ndarray
    targets: np.ndarray
    weights: bytes | None  # final weights (npz) of a finished job
    checkpoint: bytes | None  # training state of a running job, when it has no weights


def read_boundary_inputs(app: FastAPI, job_id: str) -> BoundaryInputs:
    """NotFound for an unknown job; Conflict when its dataset is gone or is not 2-D."""
    from app.datasets import decode_array

    with _sessions(app)() as session, session.begin():
        job = session.get(Job, job_id, options=[undefer(Job.weights), undefer(Job.checkpoint)])
        if job is None:
            raise NotFound("job", job_id)
        dataset = None
        if job.dataset_id is not None:
            dataset = session.get(
                Dataset, job.dataset_id, options=[undefer(Dataset.inputs), undefer(Dataset.targets)]
            )
        if dataset is None:
            raise Conflict(
                f"job {job_id!r}: its dataset was deleted, so there is nothing "
                "to draw the boundary over"
            )
        if dataset.n_features != 2:
            raise Conflict(
                f"a decision boundary needs a dataset with 2 input features; "
                f"dataset {dataset.id!r} has {dataset.n_features}"
            )
        return BoundaryInputs(
            job=job_out(session, job).model_dump(mode="json"),
            task=job.task,
            classes=job.classes,
            inputs=decode_array(dataset.inputs),
            targets=decode_array(dataset.targets),
            weights=job.weights,
            checkpoint=None if job.weights is not None else job.checkpoint,
        )
