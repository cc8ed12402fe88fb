"""The worker loop: requeue stalled jobs, claim one, train it, record the outcome.

Per job: claim the job and read it with a reference to its dataset, in one transaction
(the arrays come from this process's cache when the same content was used recently) → train,
the recorder writing epochs in small batches → end the job in one transaction with its
last rows. An idle worker sleeps until a wake-up (``worker/wakeup.py``) or its poll.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.config import Settings
from app.datasets import view_array
from app.db.models import JobStatus
from app.db.session import make_engine, make_sessionmaker
from app.errors import LeaseLost, one_line
from app.jobqueue import Lease
from app.metrics import JOB_PICKUP_SECONDS, JOBS_FINISHED, WORKERS_BUSY
from app.nn import DivergenceError, TrainState, train
from app.schemas.jobs import JobSpec
from app.services import environment, receipts, training
from app.services.training import DatasetRef
from worker import trials
from worker.datasets import DatasetCache
from worker.lease import LeaseGuard, Watch
from worker.outage import Outage
from worker.recorder import EpochRecorder
from worker.runtime import RuntimeLimit
from worker.wakeup import Wakeup

log = logging.getLogger("backprop.worker")

T = TypeVar("T")

SQLITE_MMAP_BYTES = 1 << 30  # dataset blobs are read through a map (app/db/session.py)
#: Once told to stop, how long a worker still waits for an unreachable database to end
#: or hand back its job (past it, the job's lease expires and another attempt resumes it).
STOP_WAIT_SECONDS = 10.0


class DatasetGone(Exception):
    """The job's dataset was deleted after the job was claimed."""


class Worker:
    """Claims and trains jobs from the database of ``settings``."""

    def __init__(self, settings: Settings, owner: str | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings, sqlite_mmap_bytes=SQLITE_MMAP_BYTES)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.shutdown = threading.Event()
        self.datasets = DatasetCache(settings.dataset_cache_bytes)
        self._last_requeue = float("-inf")
        self._wakeup: Wakeup | None = None
        self._guard: LeaseGuard | None = None
        self._threads_lock = threading.Lock()
        self.outage = Outage(self.engine)
        self._stop_asked: float | None = None

    @property
    def wakeup(self) -> Wakeup:
        """The wake-up listener, started on first use."""
        with self._threads_lock:
            if self._wakeup is None:
                self._wakeup = Wakeup(self.engine)
                self._wakeup.start()
            return self._wakeup

    @property
    def guard(self) -> LeaseGuard:
        """The lease guard thread, started on first use."""
        with self._threads_lock:
            if self._guard is None:
                self._guard = LeaseGuard(self.sessions, self.settings, self.shutdown, self.outage)
                self._guard.start()
            return self._guard

    def request_stop(self) -> None:
        """Stop claiming; a running job is checkpointed and handed back (SIGTERM)."""
        if self._stop_asked is None:
            self._stop_asked = time.monotonic()
        self.shutdown.set()
        if self._wakeup is not None:
            self._wakeup.interrupt()

    def close(self) -> None:
        """Stop the threads and release the database connections."""
        if self._guard is not None:
            self._guard.close()
        if self._wakeup is not None:
            self._wakeup.close()
        self.engine.dispose()

    def run(self) -> None:
        """Work until :meth:`request_stop`. Idle, wait for a wake-up, or at most
        ``poll_interval`` seconds (the fallback when a wake-up is lost)."""
        log.info("worker %s started", self.owner)
        wakeup = self.wakeup
        wakeup.ready.wait(5)
        while not self.shutdown.is_set():
            try:
                job_id = self.run_once()
            except SQLAlchemyError as exc:  # database unavailable or its disk full
                if self.outage.fault(exc, "looking for work") is None:
                    log.error("worker %s: database error, retrying: %s", self.owner, one_line(exc))
                job_id = None
            if job_id is None and not self.shutdown.is_set():
                wakeup.wait_for_work(self.settings.poll_interval)
        log.info("worker %s stopped", self.owner)

    def run_once(self) -> str | None:
        """Claim and run at most one job in this thread; return its id (None: no job)."""
        wakeup, guard = self.wakeup, self.guard
        with self.sessions() as session:
            if time.monotonic() - self._last_requeue >= self.settings.heartbeat_seconds:
                requeued, failed = jobqueue.requeue_stalled(session)
                self._last_requeue = time.monotonic()
                if requeued or failed:
                    log.info("stalled jobs: %d requeued, %d failed", requeued, failed)
                trials.advance_due(self.sessions, self.settings)
            if self.shutdown.is_set():
                return None
            found = training.claim(session, self.owner, self.settings.lease_seconds)
        self.outage.ok()
        if found is None:
            return None
        lease, claimed = found
        if lease.pickup_seconds is not None:
            JOB_PICKUP_SECONDS.observe(lease.pickup_seconds)
        log.info("job %s: claimed (attempt %d)", lease.job_id, lease.attempts)
        watch = guard.watch(lease)
        wakeup.watch(lease.job_id, guard.nudge)
        WORKERS_BUSY.set(1)
        try:
            self._run_job(lease, watch, claimed)
        except LeaseLost:
            log.warning("job %s: lease lost; result discarded", lease.job_id)
        else:
            if claimed.job.sweep_id is not None:  # a trial ended: its sweep goes on
                trials.advance_sweep(self.sessions, self.settings, lease.job_id)
        finally:
            guard.unwatch()
            wakeup.unwatch(lease.job_id)
            WORKERS_BUSY.set(0)
        return lease.job_id

    def _arrays(self, ref: DatasetRef) -> tuple[np.ndarray, np.ndarray]:
        """The dataset's decoded arrays: from the cache, else loaded and kept."""
        cached = self.datasets.get(ref.key)
        if cached is not None:
            return cached
        stored = self._db(lambda s: training.dataset_arrays(s, ref), "loading a dataset")
        if stored is None:
            raise DatasetGone(ref.id)
        current, inputs, targets = stored
        return self.datasets.put(current.key, view_array(inputs), view_array(targets))

    def _end(self, recorder: EpochRecorder, status: JobStatus, **values: Any) -> None:
        recorder.finish(status, **values)
        JOBS_FINISHED.labels(status.value).inc()
        error = values.get("error")
        log.info("job %s: %s%s", recorder.lease.job_id, status.value,
                 f" ({error})" if error else "")  # fmt: skip

    def _run_job(self, lease: Lease, watch: Watch, claimed: training.ClaimedJob) -> None:
        job = claimed.job
        recorder = EpochRecorder(
            self.sessions,
            lease,
            checkpoint_seconds=self.settings.checkpoint_seconds,
            epochs=job.epochs,
            # The machines that trained it, stored with this attempt's first write.
            job_values={"environment": environment.merged(job.environment, environment.capture())},
            outage=self.outage,
            patience=self.settings.lease_seconds,
            give_up=self._give_up,
        )
        if claimed.dataset is None:
            self._end(recorder, JobStatus.failed, error="the job's dataset was deleted")
            return
        try:
            job_spec = JobSpec.stored(job.network, job.training, job.initial_weights)
            spec, config = job_spec.engine()
            inputs, targets = self._arrays(claimed.dataset)
            resume = TrainState.from_bytes(job.checkpoint) if job.checkpoint else None
        except DatasetGone:
            self._end(recorder, JobStatus.failed, error="the job's dataset was deleted")
            return
        except Exception as exc:  # a stored job the engine refuses: fail it, don't crash
            self._end(recorder, JobStatus.failed, error=one_line(exc))
            return
        start_epoch = resume.epoch if resume is not None else 0
        already = 0.0
        if job.epoch != start_epoch:  # rows after the checkpoint: drop them (recomputed)
            self._db(lambda s: jobqueue.reset_progress(s, lease, start_epoch), "resuming a job")
        if start_epoch and job_spec.training.max_runtime_seconds is not None:
            already = self._db(lambda s: training.trained_seconds(s, lease.job_id), "resuming")
        runtime = RuntimeLimit(job_spec.training.max_runtime_seconds, already=already)
        if resume is not None:
            log.info("job %s: resuming at epoch %d", lease.job_id, start_epoch)
        recorder.snapshot_every = job_spec.training.snapshot_every
        if job.sweep_id is not None:  # a trial: its sweep may prune it
            recorder.prune = trials.prune_check(self.sessions, lease)
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
                should_stop=runtime.wrap(watch.should_stop),
            )
        except (LeaseLost, SQLAlchemyError):
            raise  # not the job's fault: its lease expires and another attempt resumes it
        except trials.TrialPruned as pruned:  # a sweep's pruner: the weights of that epoch
            self.guard.unwatch()
            if watch.lost.is_set():
                raise LeaseLost(lease.job_id) from None
            self._end(
                recorder,
                JobStatus.pruned,
                weights=pruned.state.network.to_npz(),
                final_state=pruned.state.to_bytes(),
                final_metrics=self._final(recorder),
            )
            return
        except DivergenceError as exc:
            self.guard.unwatch()
            self._end(recorder, JobStatus.failed, error=str(exc))
            return
        except Exception as exc:
            log.exception("job %s: training raised", lease.job_id)
            self.guard.unwatch()
            self._end(recorder, JobStatus.failed, error=one_line(exc))
            return
        self.guard.unwatch()  # no lease check races the final writes below
        if watch.lost.is_set():
            raise LeaseLost(lease.job_id)
        weights = result.network.to_npz()
        # The state the run ends in: what a "continue" from this job carries on from.
        ended: dict[str, Any] = {"weights": weights, "final_state": result.state.to_bytes()}
        if result.interrupted and watch.cancelled.is_set():
            self._end(recorder, JobStatus.cancelled, **ended, final_metrics=self._final(recorder))
        elif result.interrupted and runtime.exceeded():
            error = runtime.reason(result.state.epoch, result.state.batch)
            final = self._final(recorder)
            self._end(recorder, JobStatus.failed, error=error, **ended, final_metrics=final)
        elif result.interrupted:
            recorder.release(result.state.to_bytes())
            log.info(
                "job %s: handed back at epoch %d batch %d",
                lease.job_id, result.state.epoch, result.state.batch,
            )  # fmt: skip
        else:
            final = self._final(recorder)
            final["stopped_early"] = bool(result.stopped_early)
            if job.replay_of is not None:  # a replay: compared with the job it replays
                recorder.flush()  # the comparison reads this run's metrics rows
                ended["replay"] = self._replay_verdict(lease, job.replay_of, weights)
            self._end(recorder, JobStatus.succeeded, **ended, final_metrics=final)

    def _replay_verdict(self, lease: Lease, of: str, weights: bytes) -> dict[str, Any]:
        try:
            return self._db(lambda s: receipts.verdict(s, lease.job_id, weights), "comparing")
        except SQLAlchemyError:
            raise
        except Exception as exc:  # the comparison must not cost the replay its result
            log.exception("job %s: comparing with %s failed", lease.job_id, of)
            return {"of": of, "first_difference": f"comparison failed: {one_line(exc)}"}

    def _final(self, recorder: EpochRecorder) -> dict[str, Any]:
        """The final metrics: the newest epoch of this run, else of the stored rows."""
        final = recorder.final_metrics()
        if final is not None:
            return final
        job_id = recorder.lease.job_id
        return self._db(lambda s: training.final_metrics(s, job_id), "reading final metrics")

    def _give_up(self) -> bool:
        """Stop waiting for the database: told to stop over ``STOP_WAIT_SECONDS`` ago."""
        asked = self._stop_asked
        return asked is not None and time.monotonic() - asked > STOP_WAIT_SECONDS

    def _db(self, fn: Callable[[Session], T], what: str) -> T:
        """``fn(session)`` in a session of its own, tried again through database faults."""

        def call() -> T:
            with self.sessions() as session:
                return fn(session)

        return self.outage.call(call, what, self._give_up)
