"""Riding through database faults (worker/outage.py, the recorder's side of it): while the
database does not answer, training goes on and the rows wait; they are written in order
and once when it is back, even when a failed write had in fact committed; the job's end
waits for the database; errors that are no fault surface at once; an outage is logged
once when it starts and once when it ends."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from app.db.faults import Fault, classify
from app.db.models import Job, JobStatus, Metric
from app.nn import EpochMetrics, TrainState
from tests.worker.conftest import EPOCHS
from tests.worker.test_recorder import Clock, claimed, stored
from worker.outage import MAX_DELAY, Outage, delay
from worker.recorder import EpochRecorder


class DriverError(Exception):
    """What psycopg raises when the server is shutting down (SQLSTATE 57P01)."""

    sqlstate = "57P01"


def unavailable() -> OperationalError:
    return OperationalError("UPDATE jobs ...", {}, DriverError("terminating connection"))


class Flaky:
    """A sessionmaker whose database can be taken away (``down``), or whose next commit
    goes through but reports a broken connection (``break_after_commit``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.down = False
        self.break_after_commit = 0
        self.calls = 0

    @contextmanager
    def __call__(self) -> Iterator[Any]:
        self.calls += 1
        if self.down:
            raise unavailable()
        with self.sessions() as session:
            if self.break_after_commit:
                self.break_after_commit -= 1
                real = session.commit

                def commit() -> None:
                    real()
                    raise unavailable()

                session.commit = commit  # type: ignore[method-assign]
            yield session


class Sleeps:
    """A fake ``sleep`` that brings the database back after ``until`` pauses."""

    def __init__(self, flaky: Flaky, clock: Clock, until: int) -> None:
        self.flaky, self.clock, self.until = flaky, clock, until
        self.pauses: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.clock.now += seconds
        if len(self.pauses) >= self.until:
            self.flaky.down = False


def recorder_for(
    session: Session, sessions: sessionmaker[Session], engine: Engine, **kwargs: Any
) -> tuple[EpochRecorder, Flaky, Clock, Outage]:
    lease, clock = claimed(session), Clock()
    flaky = Flaky(sessions)
    outage = Outage(engine, clock=clock, sleep=kwargs.pop("sleep", lambda s: None))
    recorder = EpochRecorder(
        flaky,  # type: ignore[arg-type]
        lease,
        checkpoint_seconds=kwargs.pop("checkpoint_seconds", 3600),
        epochs=EPOCHS,
        flush_seconds=0.01,
        clock=clock,
        outage=outage,
        **kwargs,
    )
    return recorder, flaky, clock, outage


def feed(recorder: EpochRecorder, clock: Clock, epoch: tuple[EpochMetrics, TrainState]) -> None:
    clock.now += 0.02  # past the flush deadline: every epoch wants a write
    metrics, state = epoch
    recorder(replace(metrics, seconds=0.02), state)


def metric_count(sessions: sessionmaker[Session], job_id: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(Metric.job_id == job_id)) or 0


def test_the_backoff_doubles_up_to_its_cap() -> None:
    assert [delay(n) for n in range(1, 8)] == [0.05, 0.1, 0.2, 0.4, 0.8, MAX_DELAY, MAX_DELAY]


def test_a_server_shutting_down_is_a_fault_and_a_syntax_error_is_not() -> None:
    assert classify(unavailable()) is Fault.unavailable
    assert classify(ProgrammingError("SELEC", {}, Exception("syntax error"))) is None


def test_training_goes_on_through_an_outage_and_its_rows_are_written_in_order_once(
    session: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
    epochs: list[tuple[EpochMetrics, TrainState]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder, flaky, clock, outage = recorder_for(session, sessions, engine, checkpoint_seconds=0)
    feed(recorder, clock, epochs[0])
    assert stored(sessions, recorder.lease.job_id)[0] == [1]
    flaky.down = True
    caplog.set_level(logging.WARNING, "backprop.worker")
    feed(recorder, clock, epochs[1])  # fails: no exception, the row waits
    assert recorder.retry_at is not None and outage.down
    tries = flaky.calls
    feed(recorder, clock, epochs[2])  # within the backoff pause: not even tried
    assert flaky.calls == tries
    clock.now = recorder.retry_at + 1
    feed(recorder, clock, epochs[3])  # tried again, fails again: the pause doubles
    assert flaky.calls == tries + 1 and recorder.failures == 2
    assert [m["epoch"] for m in recorder.pending] == [2, 3, 4]
    flaky.down = False
    clock.now = recorder.retry_at + 1
    feed(recorder, clock, epochs[4])  # back: rows 2-5 and a checkpoint in one write
    rows, job = stored(sessions, recorder.lease.job_id)
    assert rows == [1, 2, 3, 4, 5] and job.epoch == 5 and not outage.down
    assert job.checkpoint is not None and TrainState.from_bytes(job.checkpoint).epoch == 5
    feed(recorder, clock, epochs[5])
    recorder.finish(JobStatus.succeeded, final_metrics=recorder.final_metrics())
    rows, job = stored(sessions, recorder.lease.job_id)
    assert rows == list(range(1, EPOCHS + 1)) and job.status == "succeeded"
    assert metric_count(sessions, job.id) == EPOCHS
    messages = [r.getMessage() for r in caplog.records]
    assert sum("database unavailable" in m for m in messages) == 1, messages
    assert sum("database back after" in m for m in messages) == 1, messages


def test_a_write_that_committed_before_the_connection_broke_is_not_stored_twice(
    session: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    recorder, flaky, clock, _ = recorder_for(session, sessions, engine)
    flaky.break_after_commit = 1
    feed(recorder, clock, epochs[0])  # committed, but reported as failed
    assert stored(sessions, recorder.lease.job_id)[0] == [1] and recorder.uncertain
    assert [m["epoch"] for m in recorder.pending] == [1]
    clock.now = (recorder.retry_at or 0) + 1
    feed(recorder, clock, epochs[1])
    assert stored(sessions, recorder.lease.job_id)[0] == [1, 2]
    flaky.break_after_commit = 1  # and once more, with a checkpoint-free batch of rows
    feed(recorder, clock, epochs[2])
    clock.now = (recorder.retry_at or 0) + 1
    feed(recorder, clock, epochs[3])
    for epoch in epochs[4:]:
        feed(recorder, clock, epoch)
    recorder.finish(JobStatus.succeeded, final_metrics=recorder.final_metrics())
    rows, job = stored(sessions, recorder.lease.job_id)
    assert rows == list(range(1, EPOCHS + 1)) and job.status == "succeeded"


def test_the_end_of_a_job_waits_for_the_database(
    session: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    recorder, flaky, clock, outage = recorder_for(session, sessions, engine)
    sleeps = Sleeps(flaky, clock, until=5)
    outage.sleep = sleeps
    flaky.down = True
    for epoch in epochs:
        feed(recorder, clock, epoch)
    recorder.finish(JobStatus.succeeded, final_metrics=recorder.final_metrics())
    assert sleeps.pauses == [0.05, 0.1, 0.2, 0.4, 0.8]
    rows, job = stored(sessions, recorder.lease.job_id)
    assert rows == list(range(1, EPOCHS + 1)) and job.status == "succeeded"


def test_a_long_outage_makes_training_wait_for_the_database(
    session: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    recorder, flaky, clock, outage = recorder_for(session, sessions, engine, patience=30)
    sleeps = Sleeps(flaky, clock, until=3)
    outage.sleep = sleeps
    flaky.down = True
    feed(recorder, clock, epochs[0])
    assert recorder.failing_since is not None and sleeps.pauses == []
    clock.now += 31  # the outage has lasted longer than the lease: training waits
    feed(recorder, clock, epochs[1])
    assert len(sleeps.pauses) == 3
    assert stored(sessions, recorder.lease.job_id)[0] == [1, 2] and recorder.pending == []


def test_too_many_buffered_rows_make_training_wait(
    session: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    recorder, flaky, clock, outage = recorder_for(session, sessions, engine, max_pending=3)
    outage.sleep = Sleeps(flaky, clock, until=1)
    flaky.down = True
    for epoch in epochs[:2]:
        feed(recorder, clock, epoch)
    assert len(recorder.pending) == 2
    feed(recorder, clock, epochs[2])  # the third buffered row: wait and write
    assert stored(sessions, recorder.lease.job_id)[0] == [1, 2, 3]


def test_a_worker_told_to_stop_gives_up_waiting(
    session: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    recorder, flaky, clock, _ = recorder_for(session, sessions, engine, give_up=lambda: True)
    flaky.down = True
    feed(recorder, clock, epochs[0])
    with pytest.raises(OperationalError):
        recorder.finish(JobStatus.succeeded)
    with sessions() as check:
        assert check.get(Job, recorder.lease.job_id).status == "running"  # type: ignore[union-attr]
    assert len(recorder.pending) == 1  # nothing was lost on this side either


def test_an_error_that_is_no_fault_surfaces_at_once(
    session: Session,
    sessions: sessionmaker[Session],
    engine: Engine,
) -> None:
    outage = Outage(engine, sleep=lambda s: pytest.fail("a bug must not be retried"))

    def broken() -> None:
        raise ProgrammingError("SELEC", {}, Exception("syntax error"))

    with pytest.raises(ProgrammingError):
        outage.call(broken, "testing")
    assert not outage.down
