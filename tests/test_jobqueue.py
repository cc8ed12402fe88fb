"""Job state transitions: claim exclusivity across processes, cancel, fencing,
requeue of stalled leases, graceful hand-back, progress reset on resume."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.config import Settings
from app.db.models import Job, JobStatus, Metric, WeightSnapshot
from app.db.session import make_engine, make_sessionmaker
from app.db.types import utcnow
from app.errors import Conflict, LeaseLost, NotFound
from tests.helpers import metric_row, submit_job


def job(session: Session, job_id: str) -> Job:
    session.expire_all()
    row = session.get(Job, job_id)
    assert row is not None
    return row


def test_submit_then_claim_takes_the_oldest_job_once(session: Session) -> None:
    first, second = submit_job(session), submit_job(session)
    lease = jobqueue.claim(session, "w1", lease_seconds=30)
    assert lease is not None and lease.job_id == first.id and lease.attempts == 1
    running = job(session, first.id)
    assert running.status == "running" and running.lease_owner == "w1"
    assert running.lease_token == lease.token and running.started_at is not None
    other = jobqueue.claim(session, "w2", lease_seconds=30)
    assert other is not None and other.job_id == second.id
    assert jobqueue.claim(session, "w3", lease_seconds=30) is None


def _claim_all(database_url: str, owner: str, out: str) -> None:
    """Child process: claim until the queue is empty, write the ids claimed."""
    engine = make_engine(Settings(database_url=database_url))
    sessions = make_sessionmaker(engine)
    claimed = []
    with sessions() as session:
        while (lease := jobqueue.claim(session, owner, lease_seconds=60)) is not None:
            claimed.append(lease.job_id)
    Path(out).write_text("\n".join(claimed))
    engine.dispose()


def test_four_processes_racing_claim_each_job_exactly_once(
    settings: Settings, session: Session, tmp_path: Path
) -> None:
    ids = {submit_job(session).id for _ in range(100)}
    context = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"claims-{i}.txt" for i in range(4)]
    procs = [
        context.Process(target=_claim_all, args=(settings.database_url, f"p{i}", str(out)))
        for i, out in enumerate(outs)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    claims = [line for out in outs for line in out.read_text().split("\n") if line]
    assert len(claims) == len(set(claims)) == 100
    assert set(claims) == ids
    session.expire_all()
    rows = session.scalars(select(Job)).all()
    assert all(r.status == "running" and r.attempts == 1 for r in rows)


def test_cancel_a_queued_job_is_immediate(session: Session) -> None:
    queued = submit_job(session)
    assert jobqueue.request_cancel(session, queued.id) == "cancelled"
    row = job(session, queued.id)
    assert row.status == "cancelled" and row.finished_at is not None
    assert jobqueue.claim(session, "w", 30) is None


def test_cancel_a_running_job_sets_the_flag_the_worker_sees(session: Session) -> None:
    submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    assert jobqueue.poll(session, lease) == jobqueue.LeaseStatus(True, False)
    assert jobqueue.request_cancel(session, lease.job_id) == "running"
    assert jobqueue.poll(session, lease) == jobqueue.LeaseStatus(True, True)
    assert jobqueue.heartbeat(session, lease, 30) == jobqueue.LeaseStatus(True, True)
    jobqueue.finish(session, lease, JobStatus.cancelled)
    assert job(session, lease.job_id).status == "cancelled"


def test_cancel_a_finished_job_conflicts_and_unknown_is_not_found(session: Session) -> None:
    submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    jobqueue.finish(session, lease, JobStatus.succeeded, weights=b"w")
    with pytest.raises(Conflict, match="is already succeeded"):
        jobqueue.request_cancel(session, lease.job_id)
    with pytest.raises(NotFound, match="job 'nope' not found"):
        jobqueue.request_cancel(session, "nope")


def _expire(session: Session, job_id: str) -> None:
    """Age a lease into the past (as if its worker died long ago)."""
    session.execute(
        update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()


def test_a_stalled_lease_is_requeued_and_the_old_holder_is_fenced(session: Session) -> None:
    submit_job(session)
    old = jobqueue.claim(session, "dead", 30)
    assert old is not None
    jobqueue.record_epoch(session, old, metric_row(1), checkpoint=b"ckpt-1")
    _expire(session, old.job_id)
    assert jobqueue.requeue_stalled(session) == (1, 0)
    row = job(session, old.job_id)
    assert row.status == "queued" and row.lease_token is None and row.epoch == 1

    new = jobqueue.claim(session, "alive", 30)
    assert new is not None and new.job_id == old.job_id and new.attempts == 2
    # Every write of the old holder is refused and changes nothing.
    assert jobqueue.heartbeat(session, old, 30).held is False
    with pytest.raises(LeaseLost):
        jobqueue.record_epoch(session, old, metric_row(2))
    with pytest.raises(LeaseLost):
        jobqueue.save_checkpoint(session, old, b"stale")
    with pytest.raises(LeaseLost):
        jobqueue.finish(session, old, JobStatus.succeeded, weights=b"stale")
    with pytest.raises(LeaseLost):
        jobqueue.release(session, old, b"stale")
    row = job(session, old.job_id)
    assert row.status == "running" and row.lease_owner == "alive" and row.weights is None
    assert row.checkpoint == b"ckpt-1"
    epochs = session.scalars(select(Metric.epoch).where(Metric.job_id == row.id)).all()
    assert epochs == [1]


def test_a_live_lease_is_not_requeued(session: Session) -> None:
    submit_job(session)
    assert jobqueue.claim(session, "w", 30) is not None
    assert jobqueue.requeue_stalled(session) == (0, 0)


def test_a_job_that_loses_max_attempts_workers_fails(session: Session) -> None:
    queued = submit_job(session, max_attempts=2)
    for attempt in (1, 2):
        lease = jobqueue.claim(session, f"w{attempt}", 30)
        assert lease is not None and lease.attempts == attempt
        _expire(session, queued.id)
        expected = (1, 0) if attempt == 1 else (0, 1)
        assert jobqueue.requeue_stalled(session) == expected
    row = job(session, queued.id)
    assert row.status == "failed" and row.error == "worker lost 2 times"
    assert row.finished_at is not None


def test_a_stalled_job_with_a_pending_cancel_ends_cancelled(session: Session) -> None:
    queued = submit_job(session)
    assert jobqueue.claim(session, "w", 30) is not None
    jobqueue.request_cancel(session, queued.id)
    _expire(session, queued.id)
    jobqueue.requeue_stalled(session)
    assert job(session, queued.id).status == "cancelled"


def test_release_hands_the_job_back_with_its_checkpoint(session: Session) -> None:
    queued = submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    jobqueue.release(session, lease, b"mid-epoch")
    row = job(session, queued.id)
    assert row.status == "queued" and row.checkpoint == b"mid-epoch"
    assert row.attempts == 0  # a graceful hand-back does not use up an attempt
    again = jobqueue.claim(session, "w2", 30)
    assert again is not None and again.attempts == 1


def test_reset_progress_drops_epochs_after_the_checkpoint(session: Session) -> None:
    submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    for epoch in (1, 2, 3):
        jobqueue.record_epoch(session, lease, metric_row(epoch))
    jobqueue.reset_progress(session, lease, 1)
    row = job(session, lease.job_id)
    assert row.epoch == 1
    epochs = session.scalars(select(Metric.epoch).where(Metric.job_id == row.id)).all()
    assert epochs == [1]
    jobqueue.record_epoch(session, lease, metric_row(2))  # no duplicate-key error


def snapshot_epochs(session: Session, job_id: str) -> list[int]:
    session.expire_all()
    stmt = select(WeightSnapshot.epoch).where(WeightSnapshot.job_id == job_id)
    return sorted(session.scalars(stmt).all())


def test_snapshots_are_recorded_with_their_epoch_and_dropped_after_the_checkpoint(
    session: Session,
) -> None:
    submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    for epoch in (1, 2, 3, 4, 5):
        snapshot = f"weights-{epoch}".encode() if epoch % 2 == 0 else None
        jobqueue.record_epoch(session, lease, metric_row(epoch), snapshot=snapshot)
    assert snapshot_epochs(session, lease.job_id) == [2, 4]
    jobqueue.reset_progress(session, lease, 3)  # resumed from the epoch-3 checkpoint
    assert snapshot_epochs(session, lease.job_id) == [2]
    # Recomputed: the same epochs are written again without a duplicate-key error.
    jobqueue.record_epoch(session, lease, metric_row(4), snapshot=b"weights-4")
    assert snapshot_epochs(session, lease.job_id) == [2, 4]


def test_a_snapshot_is_fenced_with_its_epoch_row(session: Session) -> None:
    submit_job(session)
    old = jobqueue.claim(session, "w", 30)
    assert old is not None
    _expire(session, old.job_id)
    jobqueue.requeue_stalled(session)
    assert jobqueue.claim(session, "w2", 30) is not None
    with pytest.raises(LeaseLost):
        jobqueue.record_epoch(session, old, metric_row(1), snapshot=b"stale")
    assert snapshot_epochs(session, old.job_id) == []


def test_delete_job_deletes_its_snapshots(session: Session) -> None:
    submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    jobqueue.record_epoch(session, lease, metric_row(1), snapshot=b"weights-1")
    jobqueue.delete_job(session, lease.job_id)
    assert session.scalars(select(WeightSnapshot)).all() == []


def test_delete_a_running_job_fences_its_worker(
    session: Session, sessions: sessionmaker[Session]
) -> None:
    submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    jobqueue.record_epoch(session, lease, metric_row(1))
    jobqueue.delete_job(session, lease.job_id)
    assert jobqueue.poll(session, lease).held is False
    with pytest.raises(LeaseLost):
        jobqueue.finish(session, lease, JobStatus.succeeded)
    assert session.scalars(select(Metric)).all() == []
    with pytest.raises(NotFound):
        jobqueue.delete_job(session, lease.job_id)


def test_the_postgresql_claim_skips_locked_rows_and_sqlite_needs_no_lock() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    values = {"status": "running"}
    pg = str(jobqueue.claim_statement("postgresql", values).compile(dialect=postgresql.dialect()))
    assert "FOR UPDATE SKIP LOCKED" in pg and "RETURNING" in pg
    lite = str(jobqueue.claim_statement("sqlite", values).compile(dialect=sqlite.dialect()))
    assert "FOR UPDATE" not in lite and "LIMIT" in lite and "RETURNING" in lite


def test_several_epochs_and_a_checkpoint_are_one_transaction(session: Session) -> None:
    queued = submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    jobqueue.record_epochs(session, lease, [metric_row(1), metric_row(2), metric_row(3)], b"c3")
    row = job(session, queued.id)
    assert row.epoch == 3 and row.checkpoint == b"c3"
    epochs = session.scalars(select(Metric.epoch).where(Metric.job_id == row.id)).all()
    assert epochs == [1, 2, 3]
    jobqueue.record_epochs(session, lease, [])  # nothing to write: no statement at all
    stale = jobqueue.Lease(queued.id, "stale", "w", 1)
    with pytest.raises(LeaseLost):  # fenced: nothing of the batch is stored
        jobqueue.record_epochs(session, stale, [metric_row(4), metric_row(5)])
    epochs = session.scalars(select(Metric.epoch).where(Metric.job_id == row.id)).all()
    assert epochs == [1, 2, 3]


def test_the_end_and_the_hand_back_store_the_last_rows_with_them(session: Session) -> None:
    ended, handed_back = submit_job(session), submit_job(session)
    first = jobqueue.claim(session, "w", 30)
    second = jobqueue.claim(session, "w", 30)
    assert first is not None and second is not None
    jobqueue.finish(session, first, JobStatus.succeeded, rows=[metric_row(1), metric_row(2)])
    jobqueue.release(session, second, b"c1", rows=[metric_row(1)])
    for job_id, epochs, status in (
        (ended.id, [1, 2], "succeeded"),
        (handed_back.id, [1], "queued"),
    ):
        row = job(session, job_id)
        assert row.status == status and row.epoch == epochs[-1]
        stored = session.scalars(select(Metric.epoch).where(Metric.job_id == job_id)).all()
        assert list(stored) == epochs


def test_the_first_claim_knows_how_long_the_job_waited(session: Session) -> None:
    queued = submit_job(session)
    session.execute(
        update(Job).where(Job.id == queued.id).values(created_at=utcnow() - timedelta(seconds=2))
    )
    session.commit()
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None and lease.pickup_seconds is not None
    assert 2.0 <= lease.pickup_seconds < 60
    jobqueue.release(session, lease, b"c")
    again = jobqueue.claim(session, "w", 30)  # a resumed job: not a pickup from the queue
    assert again is not None and again.pickup_seconds is None
