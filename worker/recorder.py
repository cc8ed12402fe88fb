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

A write that fails leaves the buffer as it was, so a retry may call the same method
again. The buffered rows of a worker that dies are recomputed, identically, by the next
attempt from the last checkpoint (``jobqueue.reset_progress``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.db.models import JobStatus
from app.jobqueue import Lease
from app.metrics import EPOCH_SECONDS
from app.nn import EpochMetrics, TrainState
from app.schemas.jobs import MetricRow
from worker import trials

FLUSH_SECONDS = 0.1


class EpochRecorder:
    """``on_epoch_end`` for one run of one job; then :meth:`finish` or :meth:`release`."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        lease: Lease,
        *,
        checkpoint_seconds: float,
        epochs: int,
        flush_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        snapshot_every: int | None = None,
        prune: trials.PruneCheck | None = None,
        job_values: dict[str, Any] | None = None,
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
        checkpoint = None
        if (
            not pruned
            and now - self.last_checkpoint >= self.checkpoint_seconds
            and metrics.epoch < self.epochs
        ):
            checkpoint = state.to_bytes()
        due = now + metrics.seconds >= self.pending_since + self.flush_seconds
        if pruned or checkpoint is not None or due:
            self.flush(checkpoint)
            if checkpoint is not None:
                self.last_checkpoint = self.clock()
        if pruned:
            raise trials.TrialPruned(metrics.epoch, state)

    def flush(self, checkpoint: bytes | None = None) -> None:
        """Write the buffered rows (and ``checkpoint``) now, in one transaction."""
        if not self.pending and checkpoint is None and not self.job_values:
            return
        with self.sessions() as session:
            jobqueue.record_epochs(
                session, self.lease, self.pending, checkpoint, self.kept, self.job_values
            )
        self._written()

    def final_metrics(self) -> dict[str, Any] | None:
        """The job's final metrics from its newest epoch, when this run recorded one."""
        return self.last.summary() if self.last is not None else None

    def finish(self, status: JobStatus, **values: Any) -> None:
        """End the job (``jobqueue.finish``) with the buffered rows, in one transaction."""
        with self.sessions() as session:
            jobqueue.finish(
                session,
                self.lease,
                status,
                rows=self.pending,
                kept=self.kept,
                job_values=self.job_values,
                **values,
            )
        self._written()

    def release(self, checkpoint: bytes | None) -> None:
        """Hand the job back (``jobqueue.release``) with the buffered rows."""
        with self.sessions() as session:
            jobqueue.release(
                session,
                self.lease,
                checkpoint,
                rows=self.pending,
                kept=self.kept,
                job_values=self.job_values,
            )
        self._written()

    def _written(self) -> None:
        self.pending = []
        self.kept = []
        self.job_values = {}
        self.pending_since = None
        self.commits += 1
