"""The sweep's decisions under concurrency and failure (app/services/sweeps.py), on SQLite
and PostgreSQL: many deciders at once never duplicate a trial nor exceed `parallelism`; a
sweep left waiting by a dead worker is advanced by another's tick; a pruning verdict is
recorded once, fenced by the lease, and found again after a crash."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import jobqueue
from app.config import Settings
from app.db.models import Job, JobStatus, SweepTrial
from app.db.session import make_engine, make_sessionmaker
from app.errors import LeaseLost
from app.limits import Limits
from app.schemas.datasets import DatasetGenerate
from app.schemas.sweeps import SweepCreate
from app.services import datasets, sweeps
from tests.helpers import metric_row, network_spec, training_config


def dataset_id(session: Session) -> str:
    request = DatasetGenerate(kind="xor", n_samples=40)
    return datasets.generated(session, Limits(), request).id


def new_sweep(session: Session, settings: Settings, **overrides: Any) -> str:
    payload: dict[str, Any] = {
        "dataset_id": dataset_id(session),
        "network": network_spec(),
        "training": training_config(epochs=5, validation_fraction=0.25),
        "space": {"training.learning_rate": {"type": "uniform", "low": 0.1, "high": 5}},
        "sampler": {"kind": "random", "seed": 1},
        "max_trials": 12,
        "parallelism": 3,
    }
    payload.update(overrides)
    return sweeps.create(session, settings, SweepCreate.model_validate(payload)).id


def active(session: Session, sweep_id: str) -> int:
    session.expire_all()
    n = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.sweep_id == sweep_id, Job.status.in_(("queued", "running")))
    )
    session.rollback()
    return int(n or 0)


def test_many_deciders_at_once_never_duplicate_a_trial_nor_exceed_parallelism(
    settings: Settings, session: Session
) -> None:
    sweep_id = new_sweep(session, settings)
    errors: list[BaseException] = []
    peaks: list[int] = []

    def decider(name: str) -> None:
        # One "host": its own engine and connections, claiming, finishing and advancing.
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        try:
            while True:
                with sessions() as s:
                    lease = jobqueue.claim(s, name, 60)
                    if lease is None:
                        if sweeps.get(s, sweep_id).finished_at is not None:
                            return
                        s.rollback()
                        continue
                with sessions() as s:
                    jobqueue.record_epoch(s, lease, metric_row(1))
                    jobqueue.finish(s, lease, JobStatus.succeeded, final_metrics=metric_row(1))
                with sessions() as s:
                    sweeps.advance(s, settings, sweep_id)
                    peaks.append(active(s, sweep_id))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=decider, args=(f"host-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert max(peaks) <= 3
    session.expire_all()
    numbers = session.scalars(
        select(SweepTrial.number).where(SweepTrial.sweep_id == sweep_id)
    ).all()
    assert sorted(numbers) == list(range(12))
    jobs = session.execute(select(Job.trial, Job.status).where(Job.sweep_id == sweep_id)).all()
    assert sorted(j.trial for j in jobs) == list(range(12))
    assert {j.status for j in jobs} == {"succeeded"}
    sweep = sweeps.view(session, sweeps.get(session, sweep_id))
    assert sweep.status == "succeeded" and sweep.best is not None


def test_a_sweep_left_waiting_by_a_dead_worker_is_advanced_by_a_tick(
    settings: Settings, session: Session
) -> None:
    sweep_id = new_sweep(session, settings, max_trials=2, parallelism=1)
    lease = jobqueue.claim(session, "doomed", 60)
    assert lease is not None
    jobqueue.record_epoch(session, lease, metric_row(1))
    # It finished its job and died before advancing the sweep.
    jobqueue.finish(session, lease, JobStatus.succeeded, final_metrics=metric_row(1))
    assert active(session, sweep_id) == 0
    assert sweeps.advance_due(session, settings) == 1
    trials = sweeps.trial_list(session, sweep_id).items
    assert [(t.number, t.status) for t in trials] == [(0, "succeeded"), (1, "queued")]
    assert trials[0].value == metric_row(1)["validation_loss"]
    assert sweeps.advance_due(session, settings) == 0  # nothing left to decide


def test_a_trial_whose_job_was_deleted_counts_as_failed_and_the_sweep_goes_on(
    settings: Settings, session: Session
) -> None:
    sweep_id = new_sweep(session, settings, max_trials=2, parallelism=1)
    first = session.scalar(select(Job.id).where(Job.sweep_id == sweep_id))
    jobqueue.delete_job(session, str(first))
    sweeps.advance(session, settings, sweep_id)
    trials = sweeps.trial_list(session, sweep_id).items
    assert (trials[0].job_id, trials[0].status, trials[0].error) == (
        None,
        None,
        "its job was deleted",
    )
    assert trials[1].status == "queued"


def pruning_sweep(session: Session, settings: Settings) -> tuple[str, sweeps.TrialContext]:
    sweep_id = new_sweep(
        session,
        settings,
        max_trials=3,
        parallelism=1,
        pruner={"kind": "successive_halving", "min_resource": 1, "reduction_factor": 2},
        objective={"metric": "validation_loss"},
    )
    job_id = session.scalar(select(Job.id).where(Job.sweep_id == sweep_id, Job.trial == 0))
    trial = sweeps.trial_context(session, str(job_id))
    assert trial == sweeps.TrialContext(sweep_id, 0, "validation_loss", 5)
    return sweep_id, trial


def test_a_pruning_verdict_is_recorded_once_and_found_again_after_a_crash(
    settings: Settings, session: Session
) -> None:
    sweep_id, first = pruning_sweep(session, settings)
    lease = jobqueue.claim(session, "w", 60)
    assert lease is not None
    for epoch in (1, 2):
        assert not sweeps.should_prune(session, lease, first, epoch, 1.0 / epoch)
        jobqueue.record_epoch(session, lease, {**metric_row(epoch), "validation_loss": 1 / epoch})
    jobqueue.finish(session, lease, JobStatus.succeeded, final_metrics=metric_row(2))
    sweeps.advance(session, settings, sweep_id)  # trial 1 is asked for
    job_id = session.scalar(select(Job.id).where(Job.sweep_id == sweep_id, Job.trial == 1))
    second = sweeps.trial_context(session, str(job_id))
    assert second is not None
    lease = jobqueue.claim(session, "w", 60)
    assert lease is not None and lease.job_id == job_id
    # Worse than trial 0 at the first rung: pruned, and the rung value is on record.
    assert sweeps.should_prune(session, lease, second, 1, 5.0) is True
    row = session.get(SweepTrial, (sweep_id, 1), populate_existing=True)
    assert row is not None and row.pruned_epoch == 1
    assert row.system_attrs["completed_rung_0"] == 5.0
    session.rollback()
    # The worker died before recording the epoch; its successor reaches epoch 1 again
    # and is told the same, without asking the pruner (whose record moved on).
    jobqueue.requeue_stalled(session, now=lease_expired())
    again = jobqueue.claim(session, "w2", 60)
    assert again is not None and again.job_id == job_id
    assert sweeps.should_prune(session, again, second, 1, 5.0) is True
    # The first worker, lease lost, can record nothing.
    with pytest.raises(LeaseLost):
        sweeps.should_prune(session, lease, second, 2, 5.0)


def lease_expired() -> Any:
    from datetime import timedelta

    from app.db.types import utcnow

    return utcnow() + timedelta(hours=1)
