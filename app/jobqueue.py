"""Every job state transition, shared by the API and the worker.

Lifecycle: ``queued -> running -> succeeded | failed | cancelled`` (and
``queued -> cancelled``). Each transition is one short write transaction whose first
statement is the write (so SQLite in WAL mode queues writers on its busy timeout instead
of failing a read-then-write upgrade). Writes made on behalf of a running job are
*fenced*: they only apply while the caller's ``lease_token`` is still the job's, so a
worker that lost its lease (it stalled, the job was requeued and claimed by another, or
the job was deleted) can never overwrite the new owner's results.

After a commit that creates work (submit, requeue, hand-back) or asks a running job to
stop (cancel, delete), the queue wakes the workers (``app.db.notify``); the workers'
polls remain the fallback.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Table, case, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from app.db import notify
from app.db.models import ACTIVE_STATUSES, Dataset, Job, JobStatus, Metric
from app.db.session import rowcount
from app.db.types import utcnow
from app.errors import Conflict, LeaseLost, NotFound

jobs: Table = Job.__table__  # type: ignore[assignment]
metrics: Table = Metric.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Lease:
    """What a worker holds while it runs a job: the fencing token of its claim."""

    job_id: str
    token: str
    owner: str
    attempts: int
    #: Seconds from submit to this claim, when this claim is the job's first start.
    pickup_seconds: float | None = None


@dataclass(frozen=True)
class LeaseStatus:
    """Answer of :func:`heartbeat` / :func:`poll`: do we still hold it, stop asked?"""

    held: bool
    cancel_requested: bool


def submit(
    session: Session,
    *,
    dataset: Dataset,
    network: dict[str, Any],
    training: dict[str, Any],
    initial_weights: list[dict[str, Any]] | None,
    max_attempts: int,
) -> Job:
    """Store a new queued job (the caller has validated the spec against the dataset)."""
    job = Job(
        status=JobStatus.queued.value,
        dataset_id=dataset.id,
        task=dataset.task,
        classes=dataset.classes,
        network=network,
        training=training,
        initial_weights=initial_weights,
        epoch=0,
        epochs=int(training["epochs"]),
        attempts=0,
        max_attempts=max_attempts,
        cancel_requested=False,
        created_at=utcnow(),
    )
    session.add(job)
    session.commit()
    notify.send(session, notify.QUEUED)
    return job


def claim_statement(dialect: str, values: dict[str, Any]) -> Any:
    """``UPDATE jobs ... WHERE id = (SELECT oldest queued LIMIT 1) RETURNING``.

    The one place with dialect knowledge: on PostgreSQL the subquery takes
    ``FOR UPDATE SKIP LOCKED`` so concurrent workers skip each other's row; SQLite has a
    single writer, so the statement is already atomic there.
    """
    oldest = (
        select(jobs.c.id)
        .where(jobs.c.status == JobStatus.queued.value)
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(1)
    )
    if dialect == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    return (
        update(jobs)
        .where(jobs.c.id == oldest.scalar_subquery())
        .where(jobs.c.status == JobStatus.queued.value)
        .values(**values)
        .returning(jobs.c.id, jobs.c.attempts, jobs.c.created_at, jobs.c.started_at)
    )


def claim(session: Session, owner: str, lease_seconds: float) -> Lease | None:
    """Atomically take the oldest queued job, or return None when there is none."""
    now = utcnow()
    token = uuid.uuid4().hex
    stmt = claim_statement(
        session.get_bind().dialect.name,
        {
            "status": JobStatus.running.value,
            "lease_owner": owner,
            "lease_token": token,
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
            "attempts": jobs.c.attempts + 1,
            "started_at": func.coalesce(jobs.c.started_at, now),
        },
    )
    row = session.execute(stmt).first()
    session.commit()
    if row is None:
        return None
    pickup = None
    if row.started_at is not None and abs((row.started_at - now).total_seconds()) < 1e-3:
        pickup = max(0.0, (now - row.created_at).total_seconds())  # first start
    return Lease(
        job_id=row.id, token=token, owner=owner, attempts=row.attempts, pickup_seconds=pickup
    )


def _held(lease: Lease) -> ColumnElement[bool]:
    return (
        (jobs.c.id == lease.job_id)
        & (jobs.c.lease_token == lease.token)
        & (jobs.c.status == JobStatus.running.value)
    )


def heartbeat(session: Session, lease: Lease, lease_seconds: float) -> LeaseStatus:
    """Extend the lease; say whether we still hold it and whether cancel was asked."""
    stmt = (
        update(jobs)
        .where(_held(lease))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .returning(jobs.c.cancel_requested)
    )
    row = session.execute(stmt).first()
    session.commit()
    if row is None:
        return LeaseStatus(held=False, cancel_requested=False)
    return LeaseStatus(held=True, cancel_requested=bool(row.cancel_requested))


def poll(session: Session, lease: Lease) -> LeaseStatus:
    """Read-only check (no write lock) of the lease and the cancel flag."""
    row = session.execute(select(jobs.c.cancel_requested).where(_held(lease))).first()
    session.rollback()
    if row is None:
        return LeaseStatus(held=False, cancel_requested=False)
    return LeaseStatus(held=True, cancel_requested=bool(row.cancel_requested))


def request_cancel(session: Session, job_id: str) -> str:
    """Cancel a queued job now, or flag a running one; returns the new status.

    Raises NotFound for an unknown id and Conflict for a finished job.
    """
    now = utcnow()
    queued = jobs.c.status == JobStatus.queued.value
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE_STATUSES))
        .values(
            cancel_requested=True,
            status=case((queued, JobStatus.cancelled.value), else_=jobs.c.status),
            finished_at=case((queued, now), else_=jobs.c.finished_at),
        )
        .returning(jobs.c.status)
    )
    row = session.execute(stmt).first()
    session.commit()
    if row is not None:
        if row.status == JobStatus.running.value:
            notify.send(session, notify.cancel_message(job_id))
        return str(row.status)
    status = session.execute(select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
    session.rollback()
    if status is None:
        raise NotFound("job", job_id)
    raise Conflict(f"job {job_id!r} is already {status}")


def requeue_stalled(session: Session, now: datetime | None = None) -> tuple[int, int]:
    """Jobs whose lease expired (their worker died): back to queued, or failed after
    ``max_attempts`` lost workers, or cancelled if a cancel was pending.

    Returns ``(requeued, failed)``.
    """
    now = now or utcnow()
    expired = (jobs.c.status == JobStatus.running.value) & (jobs.c.lease_expires_at < now)
    cleared = {"lease_owner": None, "lease_token": None, "lease_expires_at": None}
    session.execute(
        update(jobs)
        .where(expired & jobs.c.cancel_requested)
        .values(status=JobStatus.cancelled.value, finished_at=now, **cleared)
    )
    failed = session.execute(
        update(jobs)
        .where(expired & (jobs.c.attempts >= jobs.c.max_attempts))
        .values(
            status=JobStatus.failed.value,
            finished_at=now,
            error=literal("worker lost ") + cast(jobs.c.attempts, String) + literal(" times"),
            **cleared,
        )
    )
    requeued = session.execute(
        update(jobs).where(expired).values(status=JobStatus.queued.value, **cleared)
    )
    session.commit()
    if rowcount(requeued):
        notify.send(session, notify.QUEUED)
    return rowcount(requeued), rowcount(failed)


def _fenced_update(session: Session, lease: Lease, **values: Any) -> None:
    """Apply ``values`` to the job if we still hold it, else roll back and raise."""
    row = session.execute(
        update(jobs).where(_held(lease)).values(**values).returning(jobs.c.id)
    ).first()
    if row is None:
        session.rollback()
        raise LeaseLost(f"job {lease.job_id} is no longer held by token {lease.token}")


def reset_progress(session: Session, lease: Lease, epoch: int) -> None:
    """At (re)start: progress is the checkpoint's epoch; drop metrics recorded after it
    (they will be recomputed, identically, so each epoch has exactly one row)."""
    _fenced_update(session, lease, epoch=epoch)
    session.execute(
        delete(metrics).where(metrics.c.job_id == lease.job_id, metrics.c.epoch > epoch)
    )
    session.commit()


def record_epoch(
    session: Session, lease: Lease, row: dict[str, Any], checkpoint: bytes | None = None
) -> None:
    """Store one epoch's metrics and progress (and a checkpoint) in one transaction."""
    record_epochs(session, lease, [row], checkpoint)


def record_epochs(
    session: Session,
    lease: Lease,
    rows: Sequence[dict[str, Any]],
    checkpoint: bytes | None = None,
) -> None:
    """Store some epochs' metrics rows, the progress (the last row's epoch) and,
    optionally, a checkpoint, in one transaction. A checkpoint is only ever stored with
    (or after) the rows of the epochs it contains."""
    values: dict[str, Any] = {}
    if rows:
        values["epoch"] = rows[-1]["epoch"]
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    if not values:
        return
    _fenced_update(session, lease, **values)
    _insert_rows(session, lease, rows)
    session.commit()


def _insert_rows(session: Session, lease: Lease, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(metrics), [{"job_id": lease.job_id, **row} for row in rows])


def save_checkpoint(session: Session, lease: Lease, checkpoint: bytes) -> None:
    """Store a resumable training state (fenced)."""
    _fenced_update(session, lease, checkpoint=checkpoint)
    session.commit()


def release(
    session: Session,
    lease: Lease,
    checkpoint: bytes | None,
    rows: Sequence[dict[str, Any]] = (),
) -> None:
    """Graceful hand-back (worker shutting down): the job is queued again and resumes
    from ``checkpoint``. The attempt is not counted against ``max_attempts``. ``rows``:
    metrics rows not stored yet, stored in the same transaction."""
    values: dict[str, Any] = {
        "status": JobStatus.queued.value,
        "lease_owner": None,
        "lease_token": None,
        "lease_expires_at": None,
        "attempts": jobs.c.attempts - 1,
    }
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    if rows:
        values["epoch"] = rows[-1]["epoch"]
    _fenced_update(session, lease, **values)
    _insert_rows(session, lease, rows)
    session.commit()
    notify.send(session, notify.QUEUED)


def finish(
    session: Session,
    lease: Lease,
    status: JobStatus,
    *,
    error: str | None = None,
    weights: bytes | None = None,
    final_metrics: dict[str, Any] | None = None,
    rows: Sequence[dict[str, Any]] = (),
) -> None:
    """Mark the job succeeded, failed or cancelled, with its results (fenced); ``rows``:
    metrics rows not stored yet, stored in the same transaction."""
    if status not in (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled):
        raise ValueError(f"finish: {status} is not a final status")
    values: dict[str, Any] = {
        "status": status.value,
        "finished_at": utcnow(),
        "lease_owner": None,
        "lease_token": None,
        "lease_expires_at": None,
        "error": error,
        "final_metrics": final_metrics,
    }
    if weights is not None:
        values["weights"] = weights
    if rows:
        values["epoch"] = rows[-1]["epoch"]
    _fenced_update(session, lease, **values)
    _insert_rows(session, lease, rows)
    session.commit()


def delete_job(session: Session, job_id: str) -> None:
    """Delete a job and its metrics. A running job's worker finds its lease gone at its
    next heartbeat and stops (its fenced writes fail), which cancels it in effect."""
    session.execute(delete(metrics).where(metrics.c.job_id == job_id))
    result = session.execute(
        delete(jobs).where(jobs.c.id == job_id).returning(jobs.c.status)
    ).first()
    session.commit()
    if result is None:
        raise NotFound("job", job_id)
    if result.status == JobStatus.running.value:
        notify.send(session, notify.cancel_message(job_id))
