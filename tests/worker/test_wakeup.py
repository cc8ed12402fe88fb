"""Wake-ups in the worker: a new job and a cancel reach it at once (its polls are set to
30 s here, so only a wake-up can explain a prompt reaction), and a lost wake-up costs
only the poll. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.config import Settings
from app.db import notify
from app.db.models import Job
from tests.helpers import add_dataset, network_spec, training_config, wait_for
from worker.runner import Worker

SLOW_POLLS = {"poll_interval": 30.0, "cancel_poll_seconds": 30.0, "lease_seconds": 300.0}


def submit(session: Session, **training: Any) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = (x[:, :1] * x[:, 1:] > 0).astype(np.float64)
    dataset = add_dataset(session, inputs=x, targets=y)
    return jobqueue.submit(
        session, dataset=dataset, network=network_spec(),
        training=training_config(**training), initial_weights=None, max_attempts=3,
    ).id  # fmt: skip


def status(sessions: sessionmaker[Session], job_id: str) -> str:
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status


@pytest.fixture
def running_worker(settings: Settings) -> Iterator[Worker]:
    """A worker whose polls are far too slow to matter, running its loop in a thread,
    idle and listening."""
    worker = Worker(settings.model_copy(update=SLOW_POLLS), owner="woken")
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: worker.wakeup.listening, timeout=10, what="the worker to listen")
    time.sleep(0.3)  # past its first look for work: now it sleeps for its 30 s poll
    yield worker
    worker.request_stop()
    thread.join(timeout=30)
    worker.close()
    assert not thread.is_alive()


def test_a_new_job_wakes_an_idle_worker_at_once(
    running_worker: Worker, session: Session, sessions: sessionmaker[Session]
) -> None:
    for _ in range(3):  # each time the worker is back in its long sleep
        job_id = submit(session, epochs=2)
        wait_for(lambda: status(sessions, job_id), lambda s: s == "succeeded",  # noqa: B023
                 timeout=10, what="the woken worker to run the job")  # fmt: skip
        time.sleep(0.2)


def test_a_lost_wake_up_costs_only_the_poll(
    settings: Settings,
    session: Session,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(notify, "send", lambda _session, message: sent.append(message))
    worker = Worker(settings.model_copy(update={"poll_interval": 0.3}), owner="poller")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: worker.wakeup.listening, timeout=10, what="the worker to listen")
        time.sleep(0.5)
        job_id = submit(session, epochs=2)
        wait_for(lambda: status(sessions, job_id), lambda s: s == "succeeded",
                 timeout=10, what="the poll to find the job")  # fmt: skip
        assert sent == [notify.QUEUED]  # announced, but never delivered
        assert worker.wakeup.delivered == 0
    finally:
        worker.request_stop()
        thread.join(timeout=30)
        worker.close()


def _long_job_running(
    worker: Worker, session: Session, sessions: sessionmaker[Session]
) -> tuple[str, threading.Thread]:
    job_id = submit(session, epochs=100_000, batch_size=1)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    wait_for(lambda: status(sessions, job_id), lambda s: s == "running", timeout=10,
             what="the job to run")  # fmt: skip
    time.sleep(0.3)  # the guard has done its first look: its next is 30 s away
    return job_id, thread


def test_a_cancel_wake_up_stops_the_running_job_at_once(
    settings: Settings, session: Session, sessions: sessionmaker[Session]
) -> None:
    worker = Worker(settings.model_copy(update=SLOW_POLLS), owner="cancelled")
    try:
        job_id, thread = _long_job_running(worker, session, sessions)
        with sessions() as s:
            jobqueue.request_cancel(s, job_id)
        thread.join(timeout=10)
        assert not thread.is_alive(), "the cancel waited for the 30 s poll"
        assert status(sessions, job_id) == "cancelled"
    finally:
        worker.close()


def test_a_lost_cancel_wake_up_is_found_by_the_poll(
    settings: Settings,
    session: Session,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = Worker(settings.model_copy(update={"cancel_poll_seconds": 0.2}), owner="polled")
    try:
        job_id, thread = _long_job_running(worker, session, sessions)
        monkeypatch.setattr(notify, "send", lambda _session, _message: None)
        with sessions() as s:
            jobqueue.request_cancel(s, job_id)
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert status(sessions, job_id) == "cancelled"
        assert worker.wakeup.delivered == 0
    finally:
        worker.close()
