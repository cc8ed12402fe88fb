"""The epoch recorder (worker/recorder.py): short epochs share a commit, no row waits
past the flush deadline, a checkpoint is stored with every row before it and never at the
last epoch, the job's end carries the rows still buffered, a failed write keeps them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker, undefer

from app import jobqueue
from app.db.models import Job, JobStatus, Metric
from app.errors import LeaseLost
from app.jobqueue import Lease
from app.nn import EpochMetrics, TrainState
from tests.helpers import submit_job
from tests.worker.conftest import EPOCHS
from worker.outage import Outage
from worker.recorder import EpochRecorder


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claimed(session: Session) -> Lease:
    submit_job(session, epochs=EPOCHS)
    lease = jobqueue.claim(session, "recorder-test", lease_seconds=60)
    assert lease is not None
    return lease


def stored(sessions: sessionmaker[Session], job_id: str) -> tuple[list[int], Job]:
    with sessions() as session:
        rows = session.scalars(
            select(Metric.epoch).where(Metric.job_id == job_id).order_by(Metric.epoch)
        ).all()
        job = session.scalars(
            select(Job).where(Job.id == job_id).options(undefer(Job.checkpoint))
        ).one()
        session.expunge(job)
        return list(rows), job


def recorder_for(
    sessions: sessionmaker[Session],
    lease: Lease,
    outage: Outage,
    clock: Clock,
    *,
    checkpoint_seconds: float = 3600,
    flush_seconds: float = 10,
) -> EpochRecorder:
    """A recorder of an ``EPOCHS``-epoch job on ``clock`` (by default: no checkpoint and
    no flush deadline within a test)."""
    return EpochRecorder(
        sessions,
        lease,
        outage=outage,
        checkpoint_seconds=checkpoint_seconds,
        epochs=EPOCHS,
        flush_seconds=flush_seconds,
        clock=clock,
    )


def feed(
    recorder: EpochRecorder,
    clock: Clock,
    epoch: tuple[EpochMetrics, TrainState],
    seconds: float,
) -> None:
    """One epoch that took ``seconds``."""
    clock.now += seconds
    metrics, state = epoch
    recorder(replace(metrics, seconds=seconds), state)


def test_short_epochs_share_a_commit_and_none_waits_past_the_deadline(
    session: Session,
    sessions: sessionmaker[Session],
    outage: Outage,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    lease, clock = claimed(session), Clock()
    # binary fractions: the sums below are exact
    recorder = recorder_for(sessions, lease, outage, clock, flush_seconds=0.125)
    for epoch in epochs[:3]:  # rows made at t = 1/32, 2/32, 3/32
        feed(recorder, clock, epoch, 0.03125)
    assert stored(sessions, lease.job_id)[0] == [] and recorder.commits == 0
    feed(recorder, clock, epochs[3], 0.03125)  # the next would end 1/8 s after the first row
    rows, job = stored(sessions, lease.job_id)
    assert rows == [1, 2, 3, 4] and job.epoch == 4 and recorder.commits == 1
    assert job.checkpoint is None  # not due


def test_a_long_epoch_is_written_at_once(
    session: Session,
    sessions: sessionmaker[Session],
    outage: Outage,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    lease, clock = claimed(session), Clock()
    recorder = recorder_for(sessions, lease, outage, clock, flush_seconds=0.1)
    feed(recorder, clock, epochs[0], 2.0)
    assert stored(sessions, lease.job_id)[0] == [1]  # the next one ends 2 s later
    feed(recorder, clock, epochs[1], 2.0)
    assert stored(sessions, lease.job_id)[0] == [1, 2]


def test_a_checkpoint_is_stored_with_the_rows_before_it_and_never_at_the_end(
    session: Session,
    sessions: sessionmaker[Session],
    outage: Outage,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    lease, clock = claimed(session), Clock()
    recorder = recorder_for(sessions, lease, outage, clock, checkpoint_seconds=0.04)
    feed(recorder, clock, epochs[0], 0.01)  # held: no checkpoint due, flush far away
    assert stored(sessions, lease.job_id)[0] == []
    feed(recorder, clock, epochs[1], 0.05)  # checkpoint due: stored with rows 1 and 2
    rows, job = stored(sessions, lease.job_id)
    assert rows == [1, 2] and job.checkpoint is not None
    assert TrainState.from_bytes(job.checkpoint).epoch == 2
    for epoch in epochs[2:]:
        feed(recorder, clock, epoch, 0.05)
    rows, job = stored(sessions, lease.job_id)
    assert job.checkpoint is not None
    assert TrainState.from_bytes(job.checkpoint).epoch == EPOCHS - 1  # none at the last
    assert rows == list(range(1, EPOCHS))  # the last row waits for the job's end


def test_the_end_carries_the_buffered_rows_in_one_transaction(
    session: Session,
    sessions: sessionmaker[Session],
    outage: Outage,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    lease, clock = claimed(session), Clock()
    recorder = recorder_for(sessions, lease, outage, clock)
    for epoch in epochs:
        feed(recorder, clock, epoch, 0.001)
    assert stored(sessions, lease.job_id)[0] == []
    final = recorder.final_metrics()
    assert final is not None and final["epoch"] == EPOCHS and "seconds" not in final
    recorder.finish(JobStatus.succeeded, final_metrics=final)
    rows, job = stored(sessions, lease.job_id)
    assert rows == list(range(1, EPOCHS + 1)) and recorder.commits == 1
    assert job.status == "succeeded" and job.epoch == EPOCHS and job.final_metrics == final


def test_the_hand_back_carries_the_buffered_rows(
    session: Session,
    sessions: sessionmaker[Session],
    outage: Outage,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    lease, clock = claimed(session), Clock()
    recorder = recorder_for(sessions, lease, outage, clock)
    for epoch in epochs[:3]:
        feed(recorder, clock, epoch, 0.001)
    recorder.release(epochs[2][1].to_bytes())
    rows, job = stored(sessions, lease.job_id)
    assert rows == [1, 2, 3] and job.status == "queued" and job.epoch == 3
    assert job.checkpoint is not None and TrainState.from_bytes(job.checkpoint).epoch == 3


def test_a_failed_write_keeps_the_rows_for_a_retry(
    session: Session,
    sessions: sessionmaker[Session],
    outage: Outage,
    epochs: list[tuple[EpochMetrics, TrainState]],
) -> None:
    lease, clock = claimed(session), Clock()
    stale = replace(lease, token="not-the-token")
    recorder = recorder_for(sessions, stale, outage, clock)
    feed(recorder, clock, epochs[0], 0.001)
    with pytest.raises(LeaseLost):
        recorder.flush()
    assert len(recorder.pending) == 1 and stored(sessions, lease.job_id)[0] == []
    recorder.lease = lease  # as if the write were retried after the cause went away
    recorder.flush()
    assert stored(sessions, lease.job_id)[0] == [1] and recorder.pending == []
