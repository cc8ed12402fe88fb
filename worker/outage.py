"""Riding through database faults: a worker's database calls retried with backoff.

A call that fails with a fault (``app.db.faults.classify``: the database is not
answering, or its disk is full) is tried again after a pause that doubles from
``FIRST_DELAY`` up to ``MAX_DELAY``; any other error is raised at once (a bug must
surface). One :class:`Outage` per worker process tracks whether the database is down,
so an outage is logged once when it starts and once when it ends, however many calls
meet it. After a "disk full" fault on SQLite the write-ahead log is truncated, so the
failed write's pages give their space back.

Training never waits for the database while an outage is short: the epoch recorder
keeps its rows and tries again later (``worker/recorder.py``). Calls that cannot go on
without the database (loading a job, ending it, claiming the next) wait in
:meth:`Outage.call`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.db.faults import Fault, classify, release_space
from app.errors import one_line

log = logging.getLogger("backprop.worker")

T = TypeVar("T")

FIRST_DELAY = 0.05  # seconds before the first retry
MAX_DELAY = 1.0  # the longest pause between tries: the service is back within about 1 s


def delay(failures: int) -> float:
    """The pause after ``failures`` consecutive failed tries (1, 2, …)."""
    return min(MAX_DELAY, FIRST_DELAY * 2 ** max(0, failures - 1))


class Outage:
    """What one worker process knows about its database being reachable."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self.since: float | None = None  # when the current outage began
        self.outages = 0  # how many began (for tests and logs)

    @property
    def down(self) -> bool:
        return self.since is not None

    def fault(self, exc: SQLAlchemyError, what: str) -> Fault | None:
        """Note a failed call and return its fault; None when the error is no fault (a
        bug: the caller raises or reports it, and the outage state is left alone)."""
        fault = classify(exc)
        if fault is None:
            return None
        with self._lock:
            starting = self.since is None
            if starting:
                self.since = self.clock()
                self.outages += 1
        if starting:
            log.warning("database %s while %s: %s; retrying", fault.value, what, one_line(exc))
        if fault is Fault.full:
            release_space(self.engine)
        return fault

    def ok(self) -> None:
        """Note a call that succeeded: an outage, if any, is over."""
        if self.since is None:
            return
        with self._lock:
            since, self.since = self.since, None
        if since is not None:
            log.warning("database back after %.1f s", self.clock() - since)

    def call(
        self,
        fn: Callable[[], T],
        what: str,
        give_up: Callable[[], bool] = lambda: False,
    ) -> T:
        """``fn()``, tried again through faults until it succeeds or ``give_up()`` holds
        (then the last error is raised)."""
        failures = 0
        while True:
            try:
                result = fn()
            except SQLAlchemyError as exc:
                if self.fault(exc, what) is None:
                    raise
                failures += 1
                if give_up():
                    raise
                self.sleep(delay(failures))
                continue
            self.ok()
            return result
