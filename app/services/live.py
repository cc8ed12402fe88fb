"""Consistent reads for the live views (event stream, plots), each in a short session.

The event stream outlives any request-scoped session, so these open one session per
call from the session factory they are given and return plain data (dicts, arrays,
bytes), never ORM objects. Job documents are :func:`app.services.jobs.view`, so an event
carries exactly what ``GET /v1/jobs/{id}`` shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker, undefer

from app.datasets import decode_values
from app.db.models import FINISHED_STATUSES, Dataset, Job, JobStatus, Metric, WeightSnapshot
from app.errors import Conflict, NotFound
from app.schemas.jobs import MetricRow
from app.services import jobs

STATUSES = frozenset(s.value for s in JobStatus)
FINISHED = frozenset(FINISHED_STATUSES)


@dataclass(frozen=True)
class JobSnapshot:
    """A job document, its metrics after some epoch and the epochs of its weight
    snapshots after that epoch, read in one transaction."""

    job: dict[str, Any]
    metrics: list[dict[str, Any]]
    snapshot_epochs: frozenset[int] = frozenset()


def read_snapshot(
    sessions: sessionmaker[Session], job_id: str, after_epoch: int = 0
) -> JobSnapshot | None:
    """The job, then its metrics and the epochs of its weight snapshots after
    ``after_epoch`` (metrics as events carry them: no per-layer health); None when there
    is no such job.

    The job row is read first: a worker records an epoch's metrics before it finishes
    the job, so a finished status read here guarantees every metric is in the second read.
    """
    with sessions() as session, session.begin():
        job = session.get(Job, job_id)
        if job is None:
            return None
        document = jobs.view(session, job).model_dump(mode="json")
        rows = session.scalars(
            select(Metric)
            .where(Metric.job_id == job_id, Metric.epoch > after_epoch)
            .order_by(Metric.epoch)
        )
        metrics = [MetricRow.model_validate(r).event() for r in rows]
        snapshot_epochs: frozenset[int] = frozenset()
        if document["training"].get("snapshot_every"):
            snapshot_epochs = frozenset(
                session.scalars(
                    select(WeightSnapshot.epoch).where(
                        WeightSnapshot.job_id == job_id, WeightSnapshot.epoch > after_epoch
                    )
                )
            )
        return JobSnapshot(job=document, metrics=metrics, snapshot_epochs=snapshot_epochs)


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
    weights: bytes | None  # final weights (npz) of a finished job, or the snapshot asked for
    checkpoint: bytes | None  # training state of a running job, when it has no weights
    epoch: int | None = None  # the snapshot's epoch, when one was asked for


def read_boundary_inputs(
    sessions: sessionmaker[Session], job_id: str, epoch: int | None = None
) -> BoundaryInputs:
    """NotFound for an unknown job (or a missing snapshot at ``epoch``); Conflict when
    its dataset is gone or is not 2-D."""
    with sessions() as session, session.begin():
        job = session.get(Job, job_id, options=[undefer(Job.weights), undefer(Job.checkpoint)])
        if job is None:
            raise NotFound("job", job_id)
        snapshot = jobs.snapshot(session, job, epoch) if epoch is not None else None
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
            job=jobs.view(session, job).model_dump(mode="json"),
            task=job.task,
            classes=job.classes,
            inputs=decode_values(dataset.inputs),
            targets=decode_values(dataset.targets),
            weights=snapshot if snapshot is not None else job.weights,
            checkpoint=None if snapshot is not None or job.weights is not None else job.checkpoint,
            epoch=epoch,
        )
