"""The lease guard: one thread per worker that keeps the running job's lease alive and
watches for a cancel request, so the training loop's ``should_stop`` is a cheap flag read.

While a job is watched (:meth:`LeaseGuard.watch` … :meth:`LeaseGuard.unwatch`) the thread
renews its lease every ``lease/3`` s and checks the cancel flag every
``cancel_poll_seconds``, and at once when :meth:`LeaseGuard.nudge` is called (a
``cancel`` wake-up for the job, ``worker/wakeup.py``), so a cancel reaches the training
loop within milliseconds; the poll is the fallback for a lost wake-up. The thread lives
as long as the worker: starting and joining one per job cost more than a tiny job's
training on a busy machine.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.config import Settings
from app.jobqueue import Lease
from worker.outage import Outage

log = logging.getLogger("backprop.worker")


class Watch:
    """What the guard found out about one job: cancelled, lease lost, or stop asked."""

    def __init__(self, lease: Lease, shutdown: threading.Event) -> None:
        self.lease = lease
        self.shutdown = shutdown
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self.nudged = False
        started = time.monotonic()
        self.last_check = started
        self.last_beat = started

    def should_stop(self) -> bool:
        """True once the job was cancelled, the lease lost, or the worker told to stop."""
        return self.cancelled.is_set() or self.lost.is_set() or self.shutdown.is_set()


class LeaseGuard(threading.Thread):
    """Heartbeats and cancel checks for the job its worker trains (at most one)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        shutdown: threading.Event,
        outage: Outage,
    ) -> None:
        super().__init__(name="lease-guard", daemon=True)
        self.sessions = sessions
        self.settings = settings
        self.shutdown = shutdown
        self.outage = outage
        self.interval = min(settings.cancel_poll_seconds, settings.heartbeat_seconds)
        self._current: Watch | None = None
        self._lock = threading.Lock()  # held while the job is checked: unwatch waits
        self._wake = threading.Event()
        self._closed = False

    def watch(self, lease: Lease) -> Watch:
        """Start guarding ``lease``."""
        watch = Watch(lease, self.shutdown)
        with self._lock:
            self._current = watch
        self._wake.set()
        return watch

    def unwatch(self) -> None:
        """Stop guarding; returns once no check of the job is running, so the caller's
        final writes never race a heartbeat."""
        with self._lock:
            self._current = None

    def nudge(self, job_id: str) -> None:
        """Check ``job_id`` now (a cancel wake-up arrived for it)."""
        watch = self._current
        if watch is not None and watch.lease.job_id == job_id:
            watch.nudged = True
            self._wake.set()

    def close(self) -> None:
        """End the thread and wait for it."""
        self._closed = True
        self._wake.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        while not self._closed:
            watch = self._current
            timeout = None
            if watch is not None and not watch.nudged:
                timeout = max(0.0, watch.last_check + self.interval - time.monotonic())
            if timeout is None and watch is None:
                self._wake.wait()
            elif timeout:
                self._wake.wait(timeout)
            self._wake.clear()
            with self._lock:
                watch = self._current
                if watch is None or self._closed:
                    continue
                due = watch.last_check + self.interval <= time.monotonic()
                if watch.nudged or due:
                    watch.nudged = False
                    self._check(watch)

    def _check(self, watch: Watch) -> None:
        now = time.monotonic()
        watch.last_check = now
        lease = watch.lease
        try:
            with self.sessions() as session:
                if now - watch.last_beat >= self.settings.heartbeat_seconds:
                    status = jobqueue.heartbeat(session, lease, self.settings.lease_seconds)
                    watch.last_beat = now
                else:
                    status = jobqueue.poll(session, lease)
        except SQLAlchemyError as exc:  # the next check tries again
            if self.outage.fault(exc, f"renewing the lease of job {lease.job_id}") is None:
                log.warning("job %s: lease check failed: %s", lease.job_id, exc)
            return
        self.outage.ok()
        if not status.held:
            log.warning("job %s: lease lost; abandoning it", lease.job_id)
            watch.lost.set()
            self._current = None
            return
        if status.cancel_requested and not watch.cancelled.is_set():
            log.info("job %s: cancel requested", lease.job_id)
            watch.cancelled.set()
