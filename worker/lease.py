"""The lease guard: a thread that keeps a running job's lease alive and watches for a
cancel request, so the training loop's ``should_stop`` is a cheap flag read."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.config import Settings
from app.jobqueue import Lease

log = logging.getLogger("backprop.worker")


class LeaseGuard(threading.Thread):
    """Renews the lease every ``lease/3`` s and polls the cancel flag every
    ``cancel_poll_seconds``; sets ``cancelled`` or ``lost`` for the training loop."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        lease: Lease,
        settings: Settings,
        shutdown: threading.Event,
    ) -> None:
        super().__init__(name=f"lease-{lease.job_id[:8]}", daemon=True)
        self.sessions = sessions
        self.lease = lease
        self.settings = settings
        self.shutdown = shutdown
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._done = threading.Event()

    def should_stop(self) -> bool:
        """True once the job was cancelled, the lease lost, or the worker told to stop."""
        return self.cancelled.is_set() or self.lost.is_set() or self.shutdown.is_set()

    def run(self) -> None:
        last_beat = time.monotonic()
        interval = min(self.settings.cancel_poll_seconds, self.settings.heartbeat_seconds)
        while not self._done.wait(interval):
            try:
                with self.sessions() as session:
                    if time.monotonic() - last_beat >= self.settings.heartbeat_seconds:
                        status = jobqueue.heartbeat(
                            session, self.lease, self.settings.lease_seconds
                        )
                        last_beat = time.monotonic()
                    else:
                        status = jobqueue.poll(session, self.lease)
            except SQLAlchemyError as exc:  # transient (e.g. a long lock): try again
                log.warning("job %s: lease check failed: %s", self.lease.job_id, exc)
                continue
            if not status.held:
                log.warning("job %s: lease lost; abandoning it", self.lease.job_id)
                self.lost.set()
                return
            if status.cancel_requested and not self.cancelled.is_set():
                log.info("job %s: cancel requested", self.lease.job_id)
                self.cancelled.set()

    def stop(self) -> None:
        """End the thread and wait for it."""
        self._done.set()
        if self.is_alive():
            self.join()
