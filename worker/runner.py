"""The worker loop: requeue stalled jobs, claim one, train it, record the outcome."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.config import Settings
from app.datasets import decode_array
from app.db.models import JobStatus
from app.db.session import make_engine, make_sessionmaker
from app.errors import LeaseLost
from app.jobqueue import Lease
from app.nn import DivergenceError, EpochMetrics, TrainState, train
from app.schemas.jobs import JobSpec, MetricRow
from app.services import environment, receipts, training
from worker import trials
from worker.lease import LeaseGuard
from worker.runtime import RuntimeLimit

log = logging.getLogger("backprop.worker")


def one_line(exc: BaseException) -> str:
    """``"ValueError: first line of the message"`` (at most 500 characters)."""
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return message[:500]


class Worker:
    """Claims and trains jobs from the database of ``settings``."""

    def __init__(self, settings: Settings, owner: str | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.shutdown = threading.Event()
        self._last_requeue = float("-inf")

    def request_stop(self) -> None:
        """Stop claiming; a running job is checkpointed and handed back (SIGTERM)."""
        self.shutdown.set()

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def run(self) -> None:
        """Work until :meth:`request_stop`; idle polls every ``poll_interval`` seconds."""
        log.info("worker %s started", self.owner)
        while not self.shutdown.is_set():
            try:
                job_id = self.run_once()
            except SQLAlchemyError as exc:  # database unavailable or locked too long
                log.error("worker %s: database error, retrying: %s", self.owner, one_line(exc))
                job_id = None
            if job_id is None:
                self.shutdown.wait(self.settings.poll_interval)
        log.info("worker %s stopped", self.owner)

    def run_once(self) -> str | None:
        """Claim and run at most one job in this thread; return its id (None: no job)."""
        with self.sessions() as session:
            if time.monotonic() - self._last_requeue >= self.settings.heartbeat_seconds:
                requeued, failed = jobqueue.requeue_stalled(session)
                self._last_requeue = time.monotonic()
                if requeued or failed:
                    log.info("stalled jobs: %d requeued, %d failed", requeued, failed)
                trials.advance_due(self.sessions, self.settings)
            if self.shutdown.is_set():
                return None
            lease = jobqueue.claim(session, self.owner, self.settings.lease_seconds)
        if lease is None:
            return None
        log.info("job %s: claimed (attempt %d)", lease.job_id, lease.attempts)
        guard = LeaseGuard(self.sessions, lease, self.settings, self.shutdown)
        guard.start()
        try:
            self._run_job(lease, guard)
        except LeaseLost:
            log.warning("job %s: lease lost; result discarded", lease.job_id)
        else:
            trials.advance_sweep(self.sessions, self.settings, lease.job_id)
        finally:
            guard.stop()
        return lease.job_id

    def _finish(self, lease: Lease, status: JobStatus, **values: Any) -> None:
        with self.sessions() as session:
            jobqueue.finish(session, lease, status, **values)
        error = values.get("error")
        log.info("job %s: %s%s", lease.job_id, status.value, f" ({error})" if error else "")

    def _run_job(self, lease: Lease, guard: LeaseGuard) -> None:
        with self.sessions() as session:
            claimed = training.load(session, lease)
        job, dataset = claimed.job, claimed.dataset
        if dataset is None:
            self._finish(lease, JobStatus.failed, error="the job's dataset was deleted")
            return
        try:
            job_spec = JobSpec.stored(job.network, job.training, job.initial_weights)
            spec, config = job_spec.engine()
            inputs, targets = decode_array(dataset.inputs), decode_array(dataset.targets)
            resume = TrainState.from_bytes(job.checkpoint) if job.checkpoint else None
        except Exception as exc:  # a stored job the engine refuses: fail it, don't crash
            self._finish(lease, JobStatus.failed, error=one_line(exc))
            return
        start_epoch = resume.epoch if resume is not None else 0
        environments = environment.merged(job.environment, environment.capture())
        with self.sessions() as session:
            jobqueue.reset_progress(session, lease, start_epoch, environments)
            runtime = RuntimeLimit(
                job_spec.training.max_runtime_seconds,
                already=training.trained_seconds(session, lease.job_id),
            )
        if resume is not None:
            log.info("job %s: resuming at epoch %d", lease.job_id, start_epoch)
        recorder = _EpochRecorder(
            self.sessions,
            lease,
            self.settings.checkpoint_seconds,
            snapshot_every=job_spec.training.snapshot_every,
            prune=trials.prune_check(self.sessions, lease),
        )
        try:
            result = train(
                spec,
                config,
                inputs,
                targets,
                task=job.task,  # type: ignore[arg-type]
                initial_weights=job_spec.initial_layers() if resume is None else None,
                resume=resume,
                on_epoch_end=recorder,
                should_stop=runtime.wrap(guard.should_stop),
            )
        except (LeaseLost, SQLAlchemyError):
            raise  # not the job's fault: its lease expires and another attempt resumes it
        except trials.TrialPruned as pruned:  # a sweep's pruner: the weights of that epoch
            guard.stop()
            if guard.lost.is_set():
                raise LeaseLost(lease.job_id) from None
            self._finish(
                lease,
                JobStatus.pruned,
                weights=pruned.state.network.to_npz(),
                final_state=pruned.state.to_bytes(),
                final_metrics=self._final(lease),
            )
            return
        except DivergenceError as exc:
            guard.stop()
            self._finish(lease, JobStatus.failed, error=str(exc))
            return
        except Exception as exc:
            log.exception("job %s: training raised", lease.job_id)
            guard.stop()
            self._finish(lease, JobStatus.failed, error=one_line(exc))
            return
        guard.stop()  # no lease check races the final writes below
        if guard.lost.is_set():
            raise LeaseLost(lease.job_id)
        weights = result.network.to_npz()
        # The state the run ends in: what a "continue" from this job carries on from.
        ended: dict[str, Any] = {"weights": weights, "final_state": result.state.to_bytes()}
        if result.interrupted and guard.cancelled.is_set():
            self._finish(lease, JobStatus.cancelled, **ended, final_metrics=self._final(lease))
        elif result.interrupted and runtime.exceeded():
            error = runtime.reason(result.state.epoch, result.state.batch)
            final = self._final(lease)
            self._finish(lease, JobStatus.failed, error=error, **ended, final_metrics=final)
        elif result.interrupted:
            with self.sessions() as session:
                jobqueue.release(session, lease, result.state.to_bytes())
            log.info(
                "job %s: handed back at epoch %d batch %d",
                lease.job_id, result.state.epoch, result.state.batch,
            )  # fmt: skip
        else:
            final = self._final(lease)
            final["stopped_early"] = bool(result.stopped_early)
            if job.replay_of is not None:  # a replay: compared with the job it replays
                ended["replay"] = self._replay_verdict(lease, job.replay_of, weights)
            self._finish(lease, JobStatus.succeeded, **ended, final_metrics=final)

    def _replay_verdict(self, lease: Lease, of: str, weights: bytes) -> dict[str, Any]:
        try:
            with self.sessions() as session:
                return receipts.verdict(session, lease.job_id, weights)
        except SQLAlchemyError:
            raise
        except Exception as exc:  # the comparison must not cost the replay its result
            log.exception("job %s: comparing with %s failed", lease.job_id, of)
            return {"of": of, "first_difference": f"comparison failed: {one_line(exc)}"}

    def _final(self, lease: Lease) -> dict[str, Any]:
        with self.sessions() as session:
            return training.final_metrics(session, lease.job_id)


class _EpochRecorder:
    """``on_epoch_end``: one metrics row per epoch, plus a checkpoint when the last one
    is at least ``checkpoint_seconds`` old (every epoch when 0), plus the weights after
    every ``snapshot_every``-th epoch (``training.snapshot_every``). For a sweep's trial,
    ``prune`` asks the pruner first (worker/trials.py)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        lease: Lease,
        every: float,
        snapshot_every: int | None = None,
        prune: trials.PruneCheck | None = None,
    ) -> None:
        self.sessions = sessions
        self.lease = lease
        self.every = every
        self.snapshot_every = snapshot_every
        self.prune = prune
        self.last_checkpoint = time.monotonic()

    def __call__(self, metrics: EpochMetrics, state: TrainState) -> None:
        row = MetricRow.model_validate(metrics).columns()
        # A pruned epoch stores no checkpoint: a resume after a crash recomputes up to it
        # and is pruned there again (the verdict is recorded).
        pruned = self.prune is not None and self.prune(metrics)
        checkpoint = None
        if not pruned and time.monotonic() - self.last_checkpoint >= self.every:
            checkpoint = state.to_bytes()
            self.last_checkpoint = time.monotonic()
        snapshot = None
        if self.snapshot_every and metrics.epoch % self.snapshot_every == 0:
            snapshot = state.network.to_npz()
        with self.sessions() as session:
            jobqueue.record_epoch(session, self.lease, row, checkpoint, snapshot)
        if pruned:
            raise trials.TrialPruned(metrics.epoch, state)
