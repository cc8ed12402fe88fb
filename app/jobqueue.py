"""Every job state transition, shared by the API and the worker.

Lifecycle: ``queued -> running -> succeeded | failed | cancelled | pruned`` (and
``queued -> cancelled``; ``pruned``: a sweep's pruner stopped the trial at an epoch
end). Each transition is one short write transaction whose first statement is the
write (so SQLite in WAL mode queues writers on its busy timeout instead of failing a
read-then-write upgrade). Writes made on behalf of a running job are
*fenced*: they only apply while the caller's ``lease_token`` is still the job's, so a
worker that lost its lease (it stalled, the job was requeued and claimed by another, or
the job was deleted) can never overwrite the new owner's results.

After a commit that creates work (submit, requeue, hand-back) or asks a running job to
stop (cancel, delete), the queue wakes the workers (``app.db.notify``); the workers'
polls remain the fallback.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Table, case, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from app.db import notify
from app.db.models import ACTIVE_STATUSES, Dataset, Job, JobStatus, Metric, WeightSnapshot
from app.db.session import rowcount
from app.db.types import utcnow
from app.errors import Conflict, LeaseLost, NotFound

jobs: Table = Job.__table__  # type: ignore[assignment]
metrics: Table = Metric.__table__  # type: ignore[assignment]
snapshots: Table = WeightSnapshot.__table__  # type: ignore[assignment]


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
class Start:
    """Where a submitted job starts from: a training state (``checkpoint``, after
    ``epoch`` epochs, whose metrics rows are copied from job ``metrics_from``), and the
    provenance stored with it."""

    checkpoint: bytes | None = None
    epoch: int = 0
    metrics_from: str | None = None
    parent_id: str | None = None
    from_mode: str | None = None
    replay_of: str | None = None
    state_sha256: str | None = None


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
    sweep_id: str | None = None,
    trial: int | None = None,
    owner: str | None = None,
    error: str | None = None,
    commit: bool = True,
    start: Start | None = None,
) -> Job:
    """Store a new queued job (the caller has validated the spec against the dataset).

    A sweep's trial passes its ``sweep_id``, ``trial`` number and the sweep's ``owner``,
    and ``commit=False`` to store it in the sweep's transaction; a trial whose params make
    an invalid job is stored ``failed`` at once with the reason (``error``).

    ``start`` says where it starts from (a parent job, a replayed job); a job that starts
    from a training state also gets the metrics rows up to that state's epoch, copied in
    the same transaction, so its curve reads as one run's.
    """
    now = utcnow()
    start = start or Start()
    job = Job(
        status=JobStatus.queued.value if error is None else JobStatus.failed.value,
        dataset_id=dataset.id,
        task=dataset.task,
        classes=dataset.classes,
        network=network,
        training=training,
        initial_weights=initial_weights,
        epoch=0,
        # A refused trial's epochs may be any integer its space allows: the column keeps
        # 0 for one it cannot hold (its training JSON keeps the value).
        epochs=_storable(training.get("epochs")),
        attempts=0,
        max_attempts=max_attempts,
        cancel_requested=False,
        error=error,
        created_at=now,
        finished_at=None if error is None else now,
        sweep_id=sweep_id,
        trial=trial,
        dataset_sha256=dataset.sha256,
        parent_id=start.parent_id,
        from_mode=start.from_mode,
        replay_of=start.replay_of,
        start_state_sha256=start.state_sha256,
        start_epoch=start.epoch if start.checkpoint is not None else None,
    )
    if owner is not None:
        job.owner = owner
    if start.checkpoint is not None:
        job.checkpoint = start.checkpoint
        job.epoch = start.epoch
    session.add(job)
    if start.metrics_from is not None and start.epoch:
        session.flush()
        columns = [c.name for c in metrics.c if c.name != "job_id"]
        rows = select(literal(job.id), *(metrics.c[c] for c in columns)).where(
            metrics.c.job_id == start.metrics_from, metrics.c.epoch <= start.epoch
        )
        session.execute(insert(metrics).from_select(["job_id", *columns], rows))
    if commit:
        session.commit()
        notify.send(session, notify.QUEUED)
    else:  # the caller commits (and wakes the workers)
        session.flush()
    return job


def _storable(epochs: Any) -> int:
    if isinstance(epochs, int) and not isinstance(epochs, bool) and 0 <= epochs < 2**31:
        return epochs
    return 0


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


def claim(
    session: Session, owner: str, lease_seconds: float, *, commit: bool = True
) -> Lease | None:
    """Atomically take the oldest queued job, or return None when there is none.
    ``commit=False`` leaves the transaction open for the caller to read more of the job
    in it and commit (or roll back, which undoes the claim)."""
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
    if commit:
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


def request_cancel_sweep(session: Session, sweep_id: str) -> None:
    """Cancel a sweep's queued jobs now and flag its running ones, in the caller's
    transaction (the sweep's cancel commits it)."""
    now = utcnow()
    queued = jobs.c.status == JobStatus.queued.value
    session.execute(
        update(jobs)
        .where(jobs.c.sweep_id == sweep_id, jobs.c.status.in_(ACTIVE_STATUSES))
        .values(
            cancel_requested=True,
            status=case((queued, JobStatus.cancelled.value), else_=jobs.c.status),
            finished_at=case((queued, now), else_=jobs.c.finished_at),
        )
    )


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


def fence(session: Session, lease: Lease) -> None:
    """Inside the caller's transaction: raise LeaseLost (rolled back) unless the lease is
    still held, and keep the job's row locked until the commit (a sweep's pruner records
    a decision for a job only while its worker holds it)."""
    _fenced_update(session, lease, lease_token=jobs.c.lease_token)


def reset_progress(session: Session, lease: Lease, epoch: int) -> None:
    """At (re)start: progress is the checkpoint's epoch; drop the metrics and weight
    snapshots recorded after it (they will be recomputed, identically, so each epoch has
    exactly one row)."""
    _fenced_update(session, lease, epoch=epoch)
    _drop_epochs_after(session, lease.job_id, epoch)
    session.commit()


def _drop_epochs_after(session: Session, job_id: str, epoch: int) -> None:
    """Delete the job's metrics rows and weight snapshots of the epochs after ``epoch``."""
    for table in (metrics, snapshots):
        session.execute(delete(table).where(table.c.job_id == job_id, table.c.epoch > epoch))


#: A weight snapshot to store: (epoch, the network's weights as .npz bytes).
Snapshot = tuple[int, bytes]


def record_epoch(
    session: Session,
    lease: Lease,
    row: dict[str, Any],
    checkpoint: bytes | None = None,
    snapshot: bytes | None = None,
) -> None:
    """Store one epoch's metrics and progress (and a checkpoint, and a weight snapshot
    of that epoch) in one transaction."""
    kept = [(row["epoch"], snapshot)] if snapshot is not None else []
    record_epochs(session, lease, [row], checkpoint, kept)


def record_epochs(
    session: Session,
    lease: Lease,
    rows: Sequence[dict[str, Any]],
    checkpoint: bytes | None = None,
    kept: Sequence[Snapshot] = (),
    job_values: Mapping[str, Any] | None = None,
    *,
    replace: bool = False,
) -> None:
    """Store some epochs' metrics rows and weight snapshots (``kept``), the progress (the
    last row's epoch), optionally a checkpoint and other ``job_values`` of the job's row,
    in one transaction. A checkpoint is only ever stored with (or after) the rows of the
    epochs it contains, and a snapshot with its epoch's row. ``replace``: rows of these
    epochs may be stored already (a write whose commit went through although the
    connection broke): they are replaced, so each epoch has exactly one row."""
    values: dict[str, Any] = dict(job_values or {})
    if rows:
        values["epoch"] = rows[-1]["epoch"]
    if checkpoint is not None:
        values["checkpoint"] = checkpoint
    if not values:
        return
    _fenced_update(session, lease, **values)
    _insert_rows(session, lease, rows, kept, replace)
    session.commit()


def _insert_rows(
    session: Session,
    lease: Lease,
    rows: Sequence[dict[str, Any]],
    kept: Sequence[Snapshot] = (),
    replace: bool = False,
) -> None:
    if replace and rows:
        _drop_epochs_after(session, lease.job_id, rows[0]["epoch"] - 1)
    if rows:
        session.execute(insert(metrics), [{"job_id": lease.job_id, **row} for row in rows])
    if kept:
        session.execute(
            insert(snapshots),
            [{"job_id": lease.job_id, "epoch": epoch, "weights": w} for epoch, w in kept],
        )


def save_checkpoint(session: Session, lease: Lease, checkpoint: bytes) -> None:
    """Store a resumable training state (fenced)."""
    _fenced_update(session, lease, checkpoint=checkpoint)
    session.commit()


def release(
    session: Session,
    lease: Lease,
    checkpoint: bytes | None,
    rows: Sequence[dict[str, Any]] = (),
    kept: Sequence[Snapshot] = (),
    job_values: Mapping[str, Any] | None = None,
    *,
    replace: bool = False,
) -> None:
    """Graceful hand-back (worker shutting down): the job is queued again and resumes
    from ``checkpoint``. The attempt is not counted against ``max_attempts``. ``rows``,
    ``kept`` (weight snapshots) and ``job_values``: not stored yet, stored in the same
    transaction (``replace``: as in :func:`record_epochs`)."""
    values: dict[str, Any] = {
        **(job_values or {}),
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
    _insert_rows(session, lease, rows, kept, replace)
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
    final_state: bytes | None = None,
    replay: dict[str, Any] | None = None,
    rows: Sequence[dict[str, Any]] = (),
    kept: Sequence[Snapshot] = (),
    job_values: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> None:
    """Mark the job succeeded, failed, cancelled or pruned, with its results (fenced).

    ``final_state`` (the training state the run ended in) replaces the checkpoint, so a
    finished job's checkpoint is what ``from_job`` mode ``continue`` carries on from;
    ``replay`` is a replay's verdict; ``rows``, ``kept`` (weight snapshots) and
    ``job_values``: not stored yet, stored in the same transaction (``replace``: as in
    :func:`record_epochs`)."""
    if status not in (
        JobStatus.succeeded,
        JobStatus.failed,
        JobStatus.cancelled,
        JobStatus.pruned,
    ):
        raise ValueError(f"finish: {status} is not a final status")
    values: dict[str, Any] = {
        **(job_values or {}),
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
    if final_state is not None:
        values["checkpoint"] = final_state
    if replay is not None:
        values["replay"] = replay
    if rows:
        values["epoch"] = rows[-1]["epoch"]
    _fenced_update(session, lease, **values)
    _insert_rows(session, lease, rows, kept, replace)
    session.commit()


def delete_sweep_jobs(session: Session, sweep_id: str) -> None:
    """Delete a sweep's jobs, their metrics and weight snapshots, in the caller's
    transaction (the sweep's delete commits it); running ones stop as with
    :func:`delete_job`."""
    ids = select(jobs.c.id).where(jobs.c.sweep_id == sweep_id)
    session.execute(delete(metrics).where(metrics.c.job_id.in_(ids)))
    session.execute(delete(snapshots).where(snapshots.c.job_id.in_(ids)))
    session.execute(delete(jobs).where(jobs.c.sweep_id == sweep_id))


def delete_job(session: Session, job_id: str) -> None:
    """Delete a job, its metrics and its weight snapshots. A running job's worker finds
    its lease gone at its next heartbeat and stops (its fenced writes fail), which cancels
    it in effect."""
    session.execute(delete(metrics).where(metrics.c.job_id == job_id))
    session.execute(delete(snapshots).where(snapshots.c.job_id == job_id))
    result = session.execute(
        delete(jobs).where(jobs.c.id == job_id).returning(jobs.c.status)
    ).first()
    session.commit()
    if result is None:
        raise NotFound("job", job_id)
    if result.status == JobStatus.running.value:
        notify.send(session, notify.cancel_message(job_id))
