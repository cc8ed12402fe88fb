"""Reads and dataset writes used by the API (job state transitions live in
``app.jobqueue``)."""

from __future__ import annotations

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session, undefer

from app.db.models import ACTIVE_STATUSES, Dataset, Job, Metric
from app.errors import Conflict, NotFound
from app.jobqueue import rowcount


def add_dataset(session: Session, dataset: Dataset) -> Dataset:
    """Store a parsed dataset (one INSERT)."""
    session.add(dataset)
    session.commit()
    return dataset


def get_dataset(session: Session, dataset_id: str, *, arrays: bool = False) -> Dataset:
    """One dataset by id (with its array blobs if ``arrays``), or NotFound."""
    stmt = select(Dataset).where(Dataset.id == dataset_id)
    if arrays:
        stmt = stmt.options(undefer(Dataset.inputs), undefer(Dataset.targets))
    dataset = session.scalars(stmt).first()
    if dataset is None:
        raise NotFound("dataset", dataset_id)
    return dataset


def find_dataset_by_name(session: Session, name: str) -> Dataset:
    """The newest dataset called ``name``, or NotFound."""
    stmt = (
        select(Dataset)
        .where(Dataset.name == name)
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(1)
    )
    dataset = session.scalars(stmt).first()
    if dataset is None:
        raise NotFound("dataset named", name)
    return dataset


def list_datasets(session: Session, limit: int, offset: int) -> tuple[list[Dataset], int]:
    """A page of datasets (newest first) and the total count."""
    total = session.scalar(select(func.count()).select_from(Dataset)) or 0
    rows = session.scalars(
        select(Dataset)
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def delete_dataset(session: Session, dataset_id: str) -> None:
    """Delete a dataset unless a queued or running job uses it (one atomic DELETE).
    Finished jobs keep their results; their ``dataset_id`` becomes null."""
    in_use = exists().where(Job.dataset_id == dataset_id, Job.status.in_(ACTIVE_STATUSES))
    result = session.execute(delete(Dataset).where(Dataset.id == dataset_id, ~in_use))
    session.commit()
    if rowcount(result):
        return
    get_dataset(session, dataset_id)  # raises NotFound
    session.rollback()
    raise Conflict(f"dataset {dataset_id!r} is used by a queued or running job")


def get_job(session: Session, job_id: str, *, weights: bool = False) -> Job:
    """One job by id (with its weights blob if ``weights``), or NotFound."""
    stmt = select(Job).where(Job.id == job_id)
    if weights:
        stmt = stmt.options(undefer(Job.weights))
    job = session.scalars(stmt).first()
    if job is None:
        raise NotFound("job", job_id)
    return job


def list_jobs(
    session: Session, limit: int, offset: int, status: str | None = None
) -> tuple[list[Job], int]:
    """A page of jobs (newest first), optionally one status only, and the total count."""
    where = [Job.status == status] if status else []
    total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    rows = session.scalars(
        select(Job)
        .where(*where)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def list_metrics(session: Session, job_id: str, after: int, limit: int) -> list[Metric]:
    """Metrics rows of a job with ``epoch > after``, in epoch order."""
    stmt = (
        select(Metric)
        .where(Metric.job_id == job_id, Metric.epoch > after)
        .order_by(Metric.epoch)
        .limit(limit)
    )
    return list(session.scalars(stmt).all())


def mean_epoch_seconds(session: Session, job_id: str) -> float | None:
    """Average wall time of the job's recorded epochs (for the ETA)."""
    value = session.scalar(select(func.avg(Metric.seconds)).where(Metric.job_id == job_id))
    return float(value) if value is not None else None
