"""Every database write a worker makes for the job it trains, in one component.

:class:`EpochRecorder` is the training loop's ``on_epoch_end``. It keeps the epochs'
metrics rows in a small buffer and writes them in one transaction:

- at the latest ``flush_seconds`` (0.1 s) after the oldest buffered row was made,
  judged by the last epoch's duration: a row is held back only while the next epoch is
  expected to end before that deadline, so short epochs share a commit and a long
  epoch never delays the row before it (the live views stay within about 0.1 s);
- always together with a checkpoint, so a stored checkpoint never lacks the rows of the
  epochs it contains, and resume stays exact;
- always in the same transaction as the job's end (:meth:`finish`) or hand-back
  (:meth:`release`).

Checkpoints are taken at epoch ends at most every ``checkpoint_seconds`` (0: every
epoch), counted from the start of this run, and never at the job's last epoch (its end
follows at once, so it could never be resumed from).

With ``snapshot_every`` (``training.snapshot_every``) the weights after every k-th epoch
are kept too, written in the same transaction as that epoch's row. For a sweep's trial,
``prune`` asks the sweep's pruner first: a pruned epoch is written at once, without a
checkpoint (a resume recomputes up to it and is pruned there again), and
:class:`worker.trials.TrialPruned` ends training. ``job_values`` (the job's recorded
environments) go with this run's first write.

A write that fails leaves the buffer as it was. A write that meets a database fault
(``outage``: the worker's view of its database, ``worker/outage.py``) does not stop
training: the rows stay buffered and the next epoch end tries again once a backoff pause
is over (no checkpoint is taken meanwhile), so the rows made during an outage are
written, in order, when the database is back. A failed write may still have committed
(the connection broke after the commit): the next one replaces the rows of its epochs,
so each epoch is stored once.
Training waits for the database (:meth:`EpochRecorder.flush` retries until it succeeds)
once ``max_pending`` rows are buffered or the outage has lasted ``patience`` seconds
(the lease's length: past it, another worker may own the job once the database is back).
The buffered rows of a worker that dies are recomputed, identically, by the next
attempt from the last checkpoint (``jobqueue.reset_progress``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.db.models import JobStatus
from app.jobqueue import Lease
from app.metrics import EPOCH_SECONDS
from app.nn import EpochMetrics, TrainState
from app.schemas.jobs import MetricRow
from worker import trials
from worker.outage import Outage, delay

FLUSH_SECONDS = 0.1
MAX_PENDING = 20_000  # rows buffered through an outage before training waits for it


class EpochRecorder:
    """``on_epoch_end`` for one run of one job; then :meth:`finish` or :meth:`release`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        lease: Lease,
        *,
        outage: Outage,
        checkpoint_seconds: float,
        epochs: int,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        snapshot_every: int | None = None,
        prune: trials.PruneCheck | None = None,
        job_values: dict[str, Any] | None = None,
        patience: float = float("inf"),
        give_up: Callable[[], bool] = lambda: False,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.sessions = sessions
        self.lease = lease
        self.checkpoint_seconds = checkpoint_seconds
        self.epochs = epochs
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.last_checkpoint = clock()
        self.pending: list[dict[str, Any]] = []
        self.pending_since: float | None = None
        self.last: MetricRow | None = None  # the newest epoch of this run
        self.commits = 0
        self.snapshot_every = snapshot_every
        self.prune = prune
        self.kept: list[jobqueue.Snapshot] = []
        self.job_values = dict(job_values or {})
        self.outage = outage
        self.patience = patience
        self.give_up = give_up
        self.max_pending = max_pending
        self.failures = 0  # consecutive failed writes
        self.failing_since: float | None = None
        self.retry_at: float | None = None  # no write before this while failing
        self.uncertain = False  # a failed write may have committed: replace its rows

    def __call__(self, metrics: EpochMetrics, state: TrainState) -> None:
        row = MetricRow.model_validate(metrics)
        EPOCH_SECONDS.observe(metrics.seconds)
        pruned = self.prune is not None and self.prune(metrics)
        now = self.clock()
        self.pending.append(row.columns())
        self.last = row
        if self.snapshot_every and metrics.epoch % self.snapshot_every == 0:
            self.kept.append((metrics.epoch, state.network.to_npz()))
        if self.pending_since is None:
            self.pending_since = now
        waiting = self.retry_at is not None and now < self.retry_at
        checkpoint = None
        if (
            not pruned
            and not waiting
            and now - self.last_checkpoint >= self.checkpoint_seconds
            and metrics.epoch < self.epochs
        ):
            checkpoint = state.to_bytes()
        due = now + metrics.seconds >= self.pending_since + self.flush_seconds
        write_now = (pruned or checkpoint is not None or due) and not waiting
        if write_now and self._try_write(checkpoint) and checkpoint is not None:
            self.last_checkpoint = self.clock()
        if self.failing_since is not None and (
            len(self.pending) >= self.max_pending or now - self.failing_since >= self.patience
        ):
            self.flush()  # training waits for the database from here on
        if pruned:
            raise trials.TrialPruned(metrics.epoch, state)

    def _try_write(self, checkpoint: bytes | None) -> bool:
        """One attempt at writing the buffer; False when a database fault stopped it (the
        rows stay buffered, and the next try waits a backoff pause)."""
        try:
            self._write(checkpoint)
        except SQLAlchemyError as exc:
            if self.outage.fault(exc, f"recording epochs of job {self.lease.job_id}") is None:
                raise
            now = self.clock()
            self.failures += 1
            self.uncertain = True
            self.failing_since = self.failing_since if self.failing_since is not None else now
            self.retry_at = now + delay(self.failures)
            return False
        self.outage.ok()
        return True

    def _write(self, checkpoint: bytes | None) -> None:
        if self.pending or checkpoint is not None or self.job_values:
            self._store(jobqueue.record_epochs, checkpoint=checkpoint)

    def _store(self, store: Callable[..., None], *args: Any, **values: Any) -> None:
        """``store(session, lease, *args, …)`` (a jobqueue write) with the buffer, in one
        transaction; the buffer is emptied once it is committed."""
        with self.sessions() as session:
            store(
                session,
                self.lease,
                *args,
                rows=self.pending,
                kept=self.kept,
                job_values=self.job_values,
                replace=self.uncertain,
                **values,
            )
        self._written()

    def _retrying(self, write: Callable[[], None], what: str) -> None:
        """``write()`` now, tried again through database faults."""

        def attempt() -> None:
            try:
                write()
            except SQLAlchemyError:
                self.uncertain = True
                raise

        self.outage.call(attempt, f"{what} job {self.lease.job_id}", self.give_up)

    def flush(self, checkpoint: bytes | None = None) -> None:
        """Write the buffered rows (and ``checkpoint``) now, in one transaction, waiting
        through database faults."""
        self._retrying(lambda: self._write(checkpoint), "recording epochs of")

    def final_metrics(self) -> dict[str, Any] | None:
        """The job's final metrics from its newest epoch, when this run recorded one."""
        return self.last.summary() if self.last is not None else None

    def finish(self, status: JobStatus, **values: Any) -> None:
        """End the job (``jobqueue.finish``) with the buffered rows, in one transaction."""
        self._retrying(lambda: self._store(jobqueue.finish, status, **values), "ending")

    def release(self, checkpoint: bytes | None) -> None:
        """Hand the job back (``jobqueue.release``) with the buffered rows."""
        self._retrying(lambda: self._store(jobqueue.release, checkpoint), "handing back")

    def _written(self) -> None:
        self.pending = []
        self.kept = []
        self.job_values = {}
        self.pending_since = None
        self.commits += 1
        self.failures = 0
        self.failing_since = self.retry_at = None
        self.uncertain = False
