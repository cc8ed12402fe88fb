"""app.services.jobs: every check of a new job, and the job's reads, with a session."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from app import jobqueue
from app.config import Settings
from app.errors import Conflict, InvalidInput, QueueFull
from app.limits import Limits
from app.nn import SpecError
from app.schemas.datasets import DatasetGenerate
from app.schemas.jobs import JobCreate
from app.services import datasets, jobs, training
from tests.helpers import counts, network_spec, training_config
from worker.runner import Worker


def request(dataset_id: str, **changes: Any) -> JobCreate:
    body: dict[str, Any] = {
        "dataset_id": dataset_id,
        "network": network_spec(),
        "training": training_config(),
    }
    body.update(changes)
    return JobCreate.model_validate(body)


@pytest.fixture
def dataset_id(session: Session) -> str:
    return datasets.generated(session, Limits(), DatasetGenerate(kind="xor", n_samples=20)).id


def test_a_valid_job_is_queued_with_its_spec_as_stored_columns(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    row = jobs.create(session, settings, request(dataset_id))
    assert row.status == "queued" and row.epochs == 5
    assert row.network == request(dataset_id).network.model_dump()
    assert row.training["max_runtime_seconds"] is None


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"network": network_spec(sizes=[3, 8, 1])}, InvalidInput, "network.sizes"),
        ({"network": network_spec(output_activation="identity")}, SpecError, "network.cost"),
        ({"network": network_spec(sizes=[2, 0, 1])}, SpecError, "network.sizes[1]"),
        ({"training": training_config(batch_size=30)}, SpecError, "training.batch_size"),
        (
            {"initial_weights": [{"weights": [[0.0]], "biases": [0.0]}]},
            SpecError,
            "initial_weights",
        ),
    ],
)
def test_a_refused_job_names_the_field_and_stores_nothing(
    session: Session,
    settings: Settings,
    dataset_id: str,
    changes: dict[str, Any],
    error: type[Exception],
    field: str,
) -> None:
    before = counts(session)
    with pytest.raises(error) as caught:
        jobs.create(session, settings, request(dataset_id, **changes))
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert counts(session) == before


def test_a_full_queue_refuses_the_next_job(session: Session, dataset_id: str) -> None:
    settings = Settings(database_url="sqlite://", max_queued_jobs=1)
    jobs.create(session, settings, request(dataset_id))
    with pytest.raises(QueueFull):
        jobs.create(session, settings, request(dataset_id))


def test_cancel_a_queued_job_then_a_finished_one(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    row = jobs.create(session, settings, request(dataset_id))
    assert jobs.cancel(session, row.id).status == "cancelled"
    with pytest.raises(Conflict):
        jobs.cancel(session, row.id)


def test_a_trained_job_pages_its_metrics_and_predicts(
    session: Session, settings: Settings, dataset_id: str, worker: Worker
) -> None:
    row = jobs.create(session, settings, request(dataset_id, training=training_config(epochs=7)))
    with pytest.raises(Conflict):  # no weights before training
        jobs.trained(session, row.id)
    assert worker.run_once() == row.id
    session.expire_all()
    first = jobs.metrics_page(session, row.id, after=0, limit=4)
    assert [m.epoch for m in first.items] == [1, 2, 3, 4] and first.next_after == 4
    rest = jobs.metrics_page(session, row.id, after=4, limit=4)
    assert [m.epoch for m in rest.items] == [5, 6, 7] and rest.next_after is None
    assert training.final_metrics(session, row.id) == rest.items[-1].summary()
    assert training.trained_seconds(session, row.id) == pytest.approx(
        sum(m.seconds or 0 for m in first.items + rest.items)
    )
    answer = jobs.predict(session, row.id, [[0, 0], [1, 1]])
    assert len(answer.outputs) == 2 and set(answer.labels or []) <= {"0", "1"}
    with pytest.raises(InvalidInput) as caught:
        jobs.predict(session, row.id, [[0, 0], [float("nan"), 1]])
    assert str(caught.value) == "inputs[1]: values must be finite numbers (no NaN or inf)"


def test_view_has_an_eta_only_while_running(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    row = jobs.create(session, settings, request(dataset_id))
    assert jobs.view(session, row).progress.eta_seconds is None
    lease = jobqueue.claim(session, "test", 30)
    assert lease is not None
    jobqueue.record_epoch(
        session,
        lease,
        {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.5, "validation_loss": None,
         "validation_accuracy": None, "learning_rate": 0.5, "seconds": 0.25, "health": None},
    )  # fmt: skip
    session.expire_all()
    running = jobs.get(session, row.id)
    assert jobs.view(session, running).progress.eta_seconds == pytest.approx(0.25 * 4)


def test_a_size_mismatch_on_class_numbers_stored_as_regression_names_the_task(
    session: Session, settings: Settings
) -> None:
    from app.schemas.datasets import DatasetCreate

    labels = [[float(i % 10)] for i in range(40)]
    inputs = [[float(i), 1.0] for i in range(40)]
    stored = datasets.create(
        session,
        Limits(),
        DatasetCreate(name="digits", inputs=inputs, targets=labels, task="regression"),
    )
    with pytest.raises(InvalidInput) as caught:
        jobs.create(session, settings, request(stored.id, network=network_spec(sizes=[2, 8, 10])))
    assert str(caught.value) == (
        "network.sizes: sizes[-1] is 10 but the dataset has 1 outputs (task 'regression'); "
        "its target holds 10 whole-number classes: upload it again with "
        "task=classification (or task=auto) for one output per class"
    )
    with pytest.raises(InvalidInput) as plain:  # no other task would give 3 outputs
        jobs.create(session, settings, request(stored.id, network=network_spec(sizes=[2, 8, 3])))
    assert str(plain.value) == "network.sizes: sizes[-1] is 3 but the dataset has 1 outputs"
