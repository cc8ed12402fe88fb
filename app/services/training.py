"""What a worker needs besides the queue's transitions: the claimed job, its dataset
(first as a reference that says which content it has, then the arrays themselves), the
time it has already trained, and its final metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from app import jobqueue
from app.db.models import Dataset, Job, Metric
from app.jobqueue import Lease
from app.schemas.jobs import MetricRow


@dataclass(frozen=True)
class DatasetRef:
    """Which dataset content a job trains on, read without loading the arrays: its id,
    shape and the byte size of its stored inputs.

    Datasets are never changed through the API (a new upload is a new id), so this
    only has to catch a rewrite made behind its back, which changes a size. Only
    columns stored before the arrays are read: on SQLite, a column after a large blob
    (``created_at``, ``length(targets)``) costs a walk along the blob's overflow pages.
    """

    id: str
    n_samples: int
    n_features: int
    n_outputs: int
    inputs_bytes: int

    @property
    def key(self) -> tuple[str, int, int, int, int]:
        """The cache key of its arrays."""
        return (self.id, self.n_samples, self.n_features, self.n_outputs, self.inputs_bytes)


_REF_COLUMNS = (Dataset.id, Dataset.n_samples, Dataset.n_features, Dataset.n_outputs)


@dataclass(frozen=True)
class ClaimedJob:
    """A claimed job as stored, and its dataset (None when it was deleted)."""

    job: Job
    dataset: DatasetRef | None


def claim(session: Session, owner: str, lease_seconds: float) -> tuple[Lease, ClaimedJob] | None:
    """Take the oldest queued job and read it (``load``) in the claim's transaction: one
    transaction a job instead of two (each a connection check-out, BEGIN and end: on
    PostgreSQL round trips that cost more than a tiny job's training). None when the
    queue is empty."""
    lease = jobqueue.claim(session, owner, lease_seconds, commit=False)
    if lease is None:
        session.rollback()
        return None
    claimed = load(session, lease)
    session.commit()
    return lease, claimed


def load(session: Session, lease: Lease) -> ClaimedJob:
    """The job the session's open transaction has just claimed, with its checkpoint and
    start weights, and a reference to its dataset (nothing can delete the job before
    that transaction ends)."""
    job = session.scalars(
        select(Job)
        .where(Job.id == lease.job_id)
        .options(undefer(Job.checkpoint), undefer(Job.initial_weights))
    ).one()
    dataset = None
    if job.dataset_id is not None:
        # length() of a blob reads its size, not its content (SQLite and PostgreSQL).
        row = session.execute(
            select(*_REF_COLUMNS, func.length(Dataset.inputs)).where(Dataset.id == job.dataset_id)
        ).first()
        if row is not None:
            dataset = DatasetRef(str(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
    return ClaimedJob(job, dataset)


def dataset_arrays(session: Session, ref: DatasetRef) -> tuple[DatasetRef, bytes, bytes] | None:
    """The stored arrays (``.npy`` bytes) of the dataset ``ref`` names, with a reference
    to exactly the content read; None when it was deleted."""
    if session.get_bind().dialect.name == "postgresql":
        row = _postgres_binary_row(session, ref.id)
    else:
        row = session.execute(
            select(*_REF_COLUMNS, Dataset.inputs, Dataset.targets).where(Dataset.id == ref.id)
        ).first()
    if row is None:
        return None
    inputs, targets = bytes(row[4]), bytes(row[5])
    current = DatasetRef(str(row[0]), int(row[1]), int(row[2]), int(row[3]), len(inputs))
    return current, inputs, targets


def _postgres_binary_row(session: Session, dataset_id: str) -> Any:
    """The same row read with psycopg's binary result format: a ``bytea`` of 50 MB
    arrives as its bytes, not as 100 MB of hex text to decode (2-3x faster)."""
    connection = session.connection().connection.driver_connection
    assert connection is not None
    with connection.cursor(binary=True) as cursor:
        cursor.execute(
            "SELECT id, n_samples, n_features, n_outputs, inputs, targets FROM datasets "
            "WHERE id = %s",
            (dataset_id,),
        )
        return cursor.fetchone()


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
