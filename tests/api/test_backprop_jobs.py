"""`POST /v1/backprop` with `job_id`: a trained job's weights, 409 before it has any."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app import jobqueue
from app.db.models import Job
from app.nn import Network
from app.schemas.backprop import XOR_EXAMPLE
from tests.helpers import XOR_INPUTS, XOR_TARGETS, add_dataset, network_spec, training_config
from worker.runner import Worker

NETWORK = network_spec(sizes=[2, 3, 1])


def _submit(session: Session, **training: Any) -> str:
    dataset = add_dataset(session)
    job = jobqueue.submit(
        session,
        dataset=dataset,
        network=NETWORK,
        training=training_config(**training),
        initial_weights=None,
        max_attempts=3,
    )
    return job.id


def _payload(job_id: str, **changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(XOR_EXAMPLE)
    del payload["network"], payload["weights"]
    payload.update(job_id=job_id, **changes)
    return payload


@pytest.fixture
def trained_job(session: Session, worker: Worker) -> str:
    """A job trained to success in float32 (the endpoint still computes in float64)."""
    job_id = _submit(session, dtype="float32", epochs=3)
    assert worker.run_once() == job_id
    return job_id


def test_uses_the_jobs_trained_weights_and_network(
    client: Any, trained_job: str, sessions: sessionmaker[Session]
) -> None:
    response = client.post("/v1/backprop", json=_payload(trained_job))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "job"
    assert {k: v for k, v in body["network"].items() if v is not None} == NETWORK
    with sessions() as session:
        job = session.get(Job, trained_job)
        assert job is not None and job.status == "succeeded" and job.weights is not None
        stored = Network.from_npz(job.weights).to_document()["layers"]
    for lt, layer in zip(body["layers"], stored, strict=True):
        np.testing.assert_array_equal(lt["weights"], layer["weights"])
        np.testing.assert_array_equal(lt["biases"], layer["biases"])
    # The job trained in float32, the pass ran in float64: the check is float64-tight.
    assert body["gradient_check"]["max_rel_error"] < 1e-6
    net = Network.from_npz(job.weights).astype("float64")
    assert body["cost"] == pytest.approx(net.loss(XOR_INPUTS, XOR_TARGETS), rel=1e-12)


def test_a_network_that_agrees_with_the_job_is_accepted(client: Any, trained_job: str) -> None:
    payload = _payload(trained_job, network=NETWORK)
    assert client.post("/v1/backprop", json=payload).status_code == 200


def test_a_network_that_disagrees_with_the_job_is_422(client: Any, trained_job: str) -> None:
    other = dict(NETWORK, cost="quadratic")
    response = client.post("/v1/backprop", json=_payload(trained_job, network=other))
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"network: does not match job '{trained_job}': sizes [2, 3, 1] vs [2, 3, 1], "
        "activations ['sigmoid', 'sigmoid'] vs ['sigmoid', 'sigmoid'], "
        "cost 'quadratic' vs 'cross_entropy'; omit 'network' to use the job's"
    )


def test_a_job_without_weights_yet_is_409(client: Any, session: Session) -> None:
    job_id = _submit(session)
    response = client.post("/v1/backprop", json=_payload(job_id))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"job '{job_id}' has no trained weights yet (status: queued); "
        "wait until it has succeeded, or pass 'weights' or 'seed'"
    )


def test_the_jobs_inputs_must_fit_its_network(client: Any, trained_job: str) -> None:
    payload = _payload(trained_job, inputs=[[0, 0, 1]], targets=[[1]])
    response = client.post("/v1/backprop", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"] == "inputs[0]: has 3 values, but the network's sizes[0] is 2"
