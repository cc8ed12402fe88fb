"""The worker in-process (``run_once``): success, divergence, cancel mid-training,
graceful hand-back and bit-identical resume, lease loss."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker, undefer

from app import jobqueue
from app.config import Settings
from app.db.models import Job, Metric, WeightSnapshot
from app.db.types import utcnow
from app.errors import LeaseLost
from app.nn import Network
from tests.helpers import add_dataset, network_spec, training_config, wait_for
from worker.runner import Worker

RNG = np.random.default_rng(7)
BLOB_X = RNG.normal(size=(400, 4))
BLOB_Y = (BLOB_X[:, :1] + BLOB_X[:, 1:2] > 0).astype(np.float64)


def submit(session: Session, network: dict[str, Any], training: dict[str, Any], **ds: Any) -> str:
    dataset = add_dataset(session, **ds)
    return jobqueue.submit(
        session,
        dataset=dataset,
        network=network,
        training=training,
        initial_weights=None,
        max_attempts=3,
    ).id


def load(sessions: sessionmaker[Session], job_id: str) -> Job:
    with sessions() as session:
        job = session.scalars(
            select(Job)
            .where(Job.id == job_id)
            .options(undefer(Job.weights), undefer(Job.checkpoint))
        ).one()
        session.expunge(job)
        return job


def epochs(sessions: sessionmaker[Session], job_id: str) -> list[int]:
    with sessions() as session:
        stmt = select(Metric.epoch).where(Metric.job_id == job_id).order_by(Metric.epoch)
        return list(session.scalars(stmt).all())


def weights(job: Job) -> list[np.ndarray]:
    assert job.weights is not None
    document = Network.from_npz(job.weights).to_document()
    return [np.array(layer["weights"]) for layer in document["layers"]] + [
        np.array(layer["biases"]) for layer in document["layers"]
    ]


def test_run_once_without_jobs_returns_none(worker: Worker) -> None:
    assert worker.run_once() is None


def test_a_job_trains_to_success_with_one_metrics_row_per_epoch(
    worker: Worker, session: Session, sessions: sessionmaker[Session]
) -> None:
    job_id = submit(session, network_spec(sizes=[2, 4, 1]), training_config(epochs=4))
    assert worker.run_once() == job_id
    job = load(sessions, job_id)
    assert job.status == "succeeded" and job.epoch == 4 and job.error is None
    assert job.lease_token is None and job.finished_at is not None
    assert epochs(sessions, job_id) == [1, 2, 3, 4]
    assert job.final_metrics is not None and job.final_metrics["epoch"] == 4
    assert Network.from_npz(job.weights or b"").sizes == [2, 4, 1]


def test_divergence_fails_the_job_with_the_engine_message_and_keeps_the_curve(
    worker: Worker, session: Session, sessions: sessionmaker[Session]
) -> None:
    x = np.linspace(-1, 1, 40).reshape(-1, 1) * 1e3
    network = network_spec(sizes=[1, 4, 1], hidden_activation="relu",
                           output_activation="identity", cost="quadratic")  # fmt: skip
    training = training_config(epochs=50, batch_size=40, learning_rate=10.0, shuffle=False)
    job_id = submit(session, network, training, inputs=x, targets=x * 3, task="regression")
    worker.run_once()
    job = load(sessions, job_id)
    assert job.status == "failed"
    assert job.error is not None and job.error.startswith("training diverged at epoch ")
    failed_epoch = int(job.error.split("epoch ")[1].split(":")[0])
    assert epochs(sessions, job_id) == list(range(1, failed_epoch))


def _train_long_job_in_a_thread(
    worker: Worker, session: Session, sessions: sessionmaker[Session], epochs_done: int
) -> tuple[str, threading.Thread]:
    """Submit a job far too long to finish, run it in a thread until `epochs_done`
    epochs are recorded, and hand back its id and the thread."""
    training = training_config(epochs=100_000, batch_size=10)
    job_id = submit(
        session, network_spec(sizes=[4, 16, 1]), training, inputs=BLOB_X, targets=BLOB_Y
    )
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    wait_for(lambda: len(epochs(sessions, job_id)) >= epochs_done, timeout=30, interval=0.02)
    return job_id, thread


def test_cancel_stops_a_running_job_within_a_second(
    worker: Worker, session: Session, sessions: sessionmaker[Session]
) -> None:
    job_id, thread = _train_long_job_in_a_thread(worker, session, sessions, 2)
    with sessions() as s:
        jobqueue.request_cancel(s, job_id)
    asked = time.monotonic()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 1.5
    job = load(sessions, job_id)
    assert job.status == "cancelled" and job.weights is not None
    assert job.epoch == len(epochs(sessions, job_id))


def test_shutdown_hands_the_job_back_and_the_resumed_run_is_bit_identical(
    settings: Settings, session: Session, sessions: sessionmaker[Session]
) -> None:
    network = network_spec(sizes=[4, 16, 1])
    training = training_config(epochs=30, batch_size=10)
    reference_id = submit(session, network, training, inputs=BLOB_X, targets=BLOB_Y)
    job_id = submit(session, network, training, inputs=BLOB_X, targets=BLOB_Y)

    first = Worker(settings, owner="uninterrupted")
    assert first.run_once() == reference_id
    first.close()

    interrupted = Worker(settings, owner="interrupted")
    thread = threading.Thread(target=interrupted.run_once)
    thread.start()
    wait_for(lambda: len(epochs(sessions, job_id)) >= 3, timeout=30, interval=0.02)
    interrupted.request_stop()
    thread.join(timeout=10)
    interrupted.close()
    handed_back = load(sessions, job_id)
    assert handed_back.status == "queued" and handed_back.checkpoint is not None
    assert handed_back.attempts == 0 and handed_back.lease_token is None

    resumed = Worker(settings, owner="resumer")
    assert resumed.run_once() == job_id
    resumed.close()
    job, reference = load(sessions, job_id), load(sessions, reference_id)
    assert job.status == "succeeded"
    assert epochs(sessions, job_id) == list(range(1, 31))
    for mine, theirs in zip(weights(job), weights(reference), strict=True):
        assert np.array_equal(mine, theirs)
    with sessions() as s:
        losses = {
            jid: s.scalars(
                select(Metric.train_loss).where(Metric.job_id == jid).order_by(Metric.epoch)
            ).all()
            for jid in (job_id, reference_id)
        }
    assert losses[job_id] == losses[reference_id]


def test_a_worker_whose_job_is_deleted_abandons_it(
    worker: Worker, session: Session, sessions: sessionmaker[Session]
) -> None:
    job_id, thread = _train_long_job_in_a_thread(worker, session, sessions, 1)
    with sessions() as s:
        jobqueue.delete_job(s, job_id)
    thread.join(timeout=10)
    assert not thread.is_alive()
    with sessions() as s:
        assert s.get(Job, job_id) is None
        assert s.scalars(select(Metric)).all() == []


def test_cancel_is_honoured_in_the_middle_of_a_long_epoch(
    worker: Worker, session: Session, sessions: sessionmaker[Session]
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100_000, 4))
    y = (x[:, :1] > 0).astype(np.float64)
    training = training_config(epochs=3, batch_size=1)  # 100,000 steps per epoch
    job_id = submit(session, network_spec(sizes=[4, 32, 1]), training, inputs=x, targets=y)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    wait_for(lambda: load(sessions, job_id).status == "running", timeout=30, interval=0.02)
    time.sleep(0.3)  # well inside the first epoch
    with sessions() as s:
        jobqueue.request_cancel(s, job_id)
    asked = time.monotonic()
    thread.join(timeout=10)
    assert time.monotonic() - asked < 1.5
    job = load(sessions, job_id)
    assert job.status == "cancelled" and job.epoch == 0
    assert epochs(sessions, job_id) == []


def snapshots(sessions: sessionmaker[Session], job_id: str) -> dict[int, bytes]:
    with sessions() as session:
        rows = session.execute(
            select(WeightSnapshot.epoch, WeightSnapshot.weights).where(
                WeightSnapshot.job_id == job_id
            )
        ).all()
    return {epoch: bytes(blob) for epoch, blob in rows}


def test_a_lost_worker_s_snapshots_after_the_checkpoint_are_dropped_and_recomputed_identically(
    settings: Settings,
    session: Session,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker checkpoints at epoch 3 only, records snapshots 2, 4 and 6 and dies
    after epoch 7; the next worker resumes from epoch 3: snapshots 4 and 6 are dropped
    with the metrics after it, recomputed, and equal an uninterrupted run's bit for bit."""
    network = network_spec(sizes=[4, 16, 1])
    training = training_config(epochs=10, batch_size=10, snapshot_every=2)
    reference_id = submit(session, network, training, inputs=BLOB_X, targets=BLOB_Y)
    job_id = submit(session, network, training, inputs=BLOB_X, targets=BLOB_Y)
    first = Worker(settings, owner="uninterrupted")
    assert first.run_once() == reference_id
    first.close()
    assert sorted(snapshots(sessions, reference_id)) == [2, 4, 6, 8, 10]

    record_epochs = jobqueue.record_epochs
    seen: list[int] = []

    def crashing(
        s: Session, lease: Any, rows: list[dict[str, Any]], checkpoint: Any = None,
        kept: Any = (), job_values: Any = None, *, replace: bool = False,
    ) -> None:  # fmt: skip
        seen.extend(row["epoch"] for row in rows)
        last = rows[-1]["epoch"] if rows else None
        checkpoint = checkpoint if last == 3 else None
        record_epochs(s, lease, rows, checkpoint, kept, job_values, replace=replace)
        if last == 7:
            raise LeaseLost("the worker dies here")  # abandons the job, lease still held

    monkeypatch.setattr(jobqueue, "record_epochs", crashing)
    lost = Worker(settings, owner="lost")
    assert lost.run_once() == job_id
    lost.close()
    monkeypatch.setattr(jobqueue, "record_epochs", record_epochs)
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    assert sorted(snapshots(sessions, job_id)) == [2, 4, 6]
    assert load(sessions, job_id).status == "running"
    with sessions() as s:
        s.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow()))
        s.commit()
        assert jobqueue.requeue_stalled(s, utcnow() + timedelta(seconds=1)) == (1, 0)

    resumer = Worker(settings, owner="resumer")
    assert resumer.run_once() == job_id
    resumer.close()
    job = load(sessions, job_id)
    assert job.status == "succeeded" and job.attempts == 2
    assert epochs(sessions, job_id) == list(range(1, 11))
    assert snapshots(sessions, job_id) == snapshots(sessions, reference_id)
    assert job.weights == load(sessions, reference_id).weights
