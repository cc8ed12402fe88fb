"""ORM models: datasets, jobs, their per-epoch metrics and weight snapshots; sweeps and
their trials; the health probe.

Arrays (dataset inputs/targets, weights, checkpoints) are stored as binary blobs
(``.npy``/``.npz`` bytes), never as JSON text. Only portable types are used so the same
models run on PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.db.types import UTCDateTime, utcnow


def new_id() -> str:
    """A new random id (32 hex characters)."""
    return uuid.uuid4().hex


class JobStatus(StrEnum):
    """Lifecycle: queued -> running -> succeeded | failed | cancelled | pruned
    (queued -> cancelled). ``pruned``: a sweep's pruner stopped the trial at an epoch end."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    pruned = "pruned"


ACTIVE_STATUSES = (JobStatus.queued.value, JobStatus.running.value)
FINISHED_STATUSES = (
    JobStatus.succeeded.value,
    JobStatus.failed.value,
    JobStatus.cancelled.value,
    JobStatus.pruned.value,
)


class SweepStatus(StrEnum):
    """queued (no trial started yet) -> running -> succeeded | failed | cancelled."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE_SWEEP_STATUSES = (SweepStatus.queued.value, SweepStatus.running.value)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Dataset(Base):
    """A stored dataset: metadata plus inputs/targets as ``.npy`` bytes (float32 when
    that holds every value exactly, else float64: ``app.datasets.encode_values``)."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    n_samples: Mapped[int] = mapped_column(Integer)
    n_features: Mapped[int] = mapped_column(Integer)
    n_outputs: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(20))
    classes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    inputs: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    targets: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The owner id of the API key that created it (never the key); None when auth is off.
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # SHA-256 of the arrays as stored (app.datasets.dataset_sha256): what a receipt cites.
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Job(Base):
    """A training job, its lease (who runs it, until when) and its results."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        # One job per trial of a sweep (NULLs, the jobs outside sweeps, never collide).
        Index("ux_jobs_sweep_trial", "sweep_id", "trial", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.queued.value)
    dataset_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    task: Mapped[str] = mapped_column(String(20))
    classes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    network: Mapped[dict[str, Any]] = mapped_column(JSON)
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    initial_weights: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON, nullable=True, deferred=True
    )
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The last resumable training state (TrainState.to_bytes); once the job has finished
    # with weights, its final state (what "continue" carries on from).
    checkpoint: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    weights: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    final_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The owner id of the API key that created it (never the key); None when auth is off.
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # The sweep this job is a trial of, and the trial's number (both None otherwise). No
    # foreign key: the sweeps service deletes a sweep's jobs with it, in one transaction.
    sweep_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    trial: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Provenance (docs/reproducibility.md). ``parent_id``/``from_mode``: the job this one
    # continues ("continue") or warm-starts from ("weights"); no foreign key, so a child
    # keeps naming a deleted parent. ``replay_of``: the job this one replays.
    parent_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    from_mode: Mapped[str | None] = mapped_column(String(20), nullable=True)
    replay_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The dataset's SHA-256 when the job was submitted (kept if the dataset is deleted);
    # for "continue", the digest of the training state it starts from and its epoch.
    dataset_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_state_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The machines that trained it: one entry per distinct environment of its attempts.
    environment: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # A replay's verdict against the job it replays (written when it finishes).
    replay: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Metric(Base):
    """One row per finished epoch of a job; the primary key forbids a duplicate epoch."""

    __tablename__ = "metrics"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    train_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    validation_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    validation_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    learning_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    health: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)


class WeightSnapshot(Base):
    """A job's weights (``.npz``, as ``Network.to_npz``) after an epoch, kept every
    ``training.snapshot_every`` epochs; written with that epoch's metrics row."""

    __tablename__ = "weight_snapshots"

    job_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    weights: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class IdempotencyKey(Base):
    """A remembered ``Idempotency-Key`` (app/api/idempotency.py): the request's
    fingerprint and, once it succeeded, the response to replay (NULL status: running)."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class HealthProbe(Base):
    """One row per API process name, rewritten by ``GET /health`` to prove the database
    accepts writes (a full disk or a read-only replica refuses them)."""

    __tablename__ = "health_probe"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Sweep(Base):
    """A hyperparameter search: a base job spec, a search space, an Optuna sampler and
    pruner, and how many trials to run (app/services/sweeps.py).

    ``revision`` is bumped by every decision taken for the sweep (ask, tell, prune): that
    write is the first statement of the decision's transaction, so it holds the sweep's
    row lock (PostgreSQL) or the database's write lock (SQLite) until the commit and
    decisions for one sweep never interleave, whichever host takes them.
    """

    __tablename__ = "sweeps"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=SweepStatus.queued.value, index=True)
    dataset_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    network: Mapped[dict[str, Any]] = mapped_column(JSON)
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    sampler: Mapped[dict[str, Any]] = mapped_column(JSON)
    pruner: Mapped[dict[str, Any]] = mapped_column(JSON)
    objective: Mapped[dict[str, Any]] = mapped_column(JSON)
    max_trials: Mapped[int] = mapped_column(Integer)
    parallelism: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The owner id of the API key that created it (never the key); None when auth is off.
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class SweepTrial(Base):
    """Optuna's record of one trial: the params it sampled (its own representation: a
    ``choice`` is an index into ``values``), its state and value once told, its system
    attributes (the grid point, successive halving's rung values) and the epoch at which
    the pruner stopped it. The trial's job is the one with (sweep_id, trial) = this key."""

    __tablename__ = "sweep_trials"

    sweep_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    system_attrs: Mapped[dict[str, Any]] = mapped_column(JSON)
    pruned_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
