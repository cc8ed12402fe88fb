"""What a worker needs besides the queue's transitions: the claimed job with its data,
the time it has already trained, and its final metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from app.db.models import Dataset, Job, Metric
from app.errors import LeaseLost
from app.jobqueue import Lease
from app.schemas.jobs import MetricRow


@dataclass(frozen=True)
class ClaimedJob:
    """A claimed job as stored, and its dataset (None when it was deleted)."""

    job: Job
    dataset: Dataset | None


def load(session: Session, lease: Lease) -> ClaimedJob:
    """The leased job with its checkpoint and start weights, and its dataset's arrays;
    LeaseLost when the job was deleted since it was claimed."""
    job = session.scalars(
        select(Job)
        .where(Job.id == lease.job_id)
        .options(undefer(Job.checkpoint), undefer(Job.initial_weights))
    ).first()
    if job is None:
        raise LeaseLost(lease.job_id)
    dataset = None
    if job.dataset_id is not None:
        dataset = session.scalars(
            select(Dataset)
            .where(Dataset.id == job.dataset_id)
            .options(undefer(Dataset.inputs), undefer(Dataset.targets))
        ).first()
    return ClaimedJob(job, dataset)


def trained_seconds(session: Session, job_id: str) -> float:
    """Training seconds a job has on record (its metrics rows), e.g. before a resume; not
    the rows a ``continue`` job inherited from its parent (epochs up to ``start_epoch``)."""
    inherited = select(func.coalesce(Job.start_epoch, 0)).where(Job.id == job_id)
    total = session.scalar(
        select(func.sum(Metric.seconds)).where(
            Metric.job_id == job_id, Metric.epoch > inherited.scalar_subquery()
        )
    )
    return float(total or 0.0)


def final_metrics(session: Session, job_id: str) -> dict[str, Any]:
    """A finished job's final metrics: its last recorded epoch's numbers."""
    row = session.scalars(
        select(Metric).where(Metric.job_id == job_id).order_by(Metric.epoch.desc())
    ).first()
    if row is None:
        return {"epoch": 0}
    return MetricRow.model_validate(row).summary()
