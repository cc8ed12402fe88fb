"""``/v1/jobs``: submit, list, get, cancel, delete, metrics, weights, predict, and the
bad-input table (exact status and detail, nothing stored)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from tests.helpers import counts, network_spec, training_config, xor_dataset
from worker.runner import Worker


def submit(client: TestClient, dataset_id: str, **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "dataset_id": dataset_id,
        "network": network_spec(),
        "training": training_config(),
    }
    payload.update(body)
    response = client.post("/v1/jobs", json=payload)
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()
    return data


def run_worker(settings: Settings) -> str | None:
    worker = Worker(settings, owner="test")
    try:
        return worker.run_once()
    finally:
        worker.close()


def forward(document: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Reference forward pass from the weights document alone (docs/design.md §1)."""
    a = x
    for layer in document["layers"]:
        z = a @ np.array(layer["weights"]).T + np.array(layer["biases"])
        name = layer["activation"]
        if name == "sigmoid":
            a = 1 / (1 + np.exp(-z))
        elif name == "tanh":
            a = np.tanh(z)
        elif name == "relu":
            a = np.maximum(z, 0)
        elif name == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        else:
            a = z
    return a


def test_submit_answers_202_with_a_queued_job(client: TestClient) -> None:
    dataset = xor_dataset(client)
    job = submit(client, dataset["id"])
    assert job["status"] == "queued" and job["dataset_id"] == dataset["id"]
    assert job["progress"] == {"epoch": 0, "epochs": 5, "eta_seconds": None}
    assert job["attempts"] == 0 and job["error"] is None and job["started_at"] is None
    assert job["network"]["sizes"] == [2, 8, 1]
    assert job["training"]["batch_size"] == 4 and job["training"]["optimizer"] == "sgd"
    assert client.get(f"/v1/jobs/{job['id']}").json() == job


def test_submit_by_dataset_name_uses_the_newest(client: TestClient) -> None:
    xor_dataset(client, seed=1)
    newest = xor_dataset(client, seed=2)
    payload = {"dataset_name": "xor", "network": network_spec()}
    response = client.post("/v1/jobs", json=payload)
    assert response.status_code == 202, response.text
    assert response.json()["dataset_id"] == newest["id"]


def test_list_filters_by_status_and_pages(client: TestClient) -> None:
    dataset = xor_dataset(client)
    ids = [submit(client, dataset["id"])["id"] for _ in range(3)]
    client.post(f"/v1/jobs/{ids[0]}/cancel")
    queued = client.get("/v1/jobs", params={"status": "queued"}).json()
    assert [j["id"] for j in queued["items"]] == [ids[2], ids[1]] and queued["total"] == 2
    page = client.get("/v1/jobs", params={"limit": 1, "offset": 1}).json()
    assert [j["id"] for j in page["items"]] == [ids[1]] and page["total"] == 3
    bad = client.get("/v1/jobs", params={"status": "done"})
    assert bad.status_code == 422
    assert bad.json()["detail"] == (
        "status: Input should be 'queued', 'running', 'succeeded', 'failed', 'cancelled' "
        "or 'pruned'"
    )


def test_cancel_queued_then_cancel_again_conflicts(client: TestClient) -> None:
    job = submit(client, xor_dataset(client)["id"])
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409
    assert again.json() == {"detail": f"job {job['id']!r} is already cancelled"}


def test_delete_job_and_unknown_ids_are_404(client: TestClient, session: Session) -> None:
    job = submit(client, xor_dataset(client)["id"])
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert counts(session)["jobs"] == 0
    for method, path in [
        ("GET", "/v1/jobs/nope"),
        ("POST", "/v1/jobs/nope/cancel"),
        ("DELETE", "/v1/jobs/nope"),
        ("GET", "/v1/jobs/nope/metrics"),
        ("GET", "/v1/jobs/nope/weights"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"detail": "job 'nope' not found"}
    predict = client.post("/v1/jobs/nope/predict", json={"inputs": [[0, 0]]})
    assert predict.status_code == 404


def test_weights_of_an_unfinished_job_conflict(client: TestClient) -> None:
    job = submit(client, xor_dataset(client)["id"])
    response = client.get(f"/v1/jobs/{job['id']}/weights")
    assert response.status_code == 409
    assert response.json() == {"detail": f"job {job['id']!r} has no weights yet (status: queued)"}


def test_trained_job_metrics_weights_and_predict(client: TestClient, settings: Settings) -> None:
    dataset = xor_dataset(client, n_samples=40)
    job = submit(client, dataset["id"], training=training_config(epochs=6, batch_size=8))
    assert run_worker(settings) == job["id"]

    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["progress"]["epoch"] == 6 and done["finished_at"] is not None
    assert done["final_metrics"]["epoch"] == 6

    metrics = client.get(f"/v1/jobs/{job['id']}/metrics").json()
    assert [m["epoch"] for m in metrics["items"]] == [1, 2, 3, 4, 5, 6]
    assert metrics["status"] == "succeeded" and metrics["next_after"] is None
    assert done["final_metrics"]["train_loss"] == metrics["items"][-1]["train_loss"]
    page = client.get(f"/v1/jobs/{job['id']}/metrics", params={"after": 2, "limit": 3}).json()
    assert [m["epoch"] for m in page["items"]] == [3, 4, 5] and page["next_after"] == 5

    document = client.get(f"/v1/jobs/{job['id']}/weights").json()
    assert document["sizes"] == [2, 8, 1] and document["cost"] == "cross_entropy"
    assert [np.array(layer["weights"]).shape for layer in document["layers"]] == [(8, 2), (1, 8)]

    npz = client.get(f"/v1/jobs/{job['id']}/weights", params={"format": "npz"})
    assert npz.status_code == 200 and npz.headers["content-type"] == "application/octet-stream"
    np.load(io.BytesIO(npz.content), allow_pickle=False).close()

    x = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.3, 0.9]]
    predicted = client.post(f"/v1/jobs/{job['id']}/predict", json={"inputs": x}).json()
    expected = forward(document, np.array(x))
    np.testing.assert_allclose(predicted["outputs"], expected, rtol=1e-12, atol=1e-12)
    assert predicted["labels"] == [str(int(v >= 0.5)) for v in expected[:, 0]]


def test_predict_refuses_rows_of_the_wrong_width_and_non_finite_values(
    client: TestClient, settings: Settings
) -> None:
    job = submit(client, xor_dataset(client)["id"], training=training_config(epochs=1))
    run_worker(settings)
    response = client.post(f"/v1/jobs/{job['id']}/predict", json={"inputs": [[0, 0], [1, 2, 3]]})
    assert response.status_code == 422
    assert response.json() == {"detail": "inputs[1]: expected 2 values, got 3"}
    raw = '{"inputs": [[0, 0], [NaN, 1]]}'
    response = client.post(
        f"/v1/jobs/{job['id']}/predict", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "inputs[1]: values must be finite numbers (no NaN or inf)"}


# ---- bad job specs: (overrides, status, exact detail) -----------------------------------

BAD_JOBS: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "sizes[0] vs features",
        {"network": network_spec(sizes=[3, 8, 1])},
        422,
        "network.sizes: sizes[0] is 3 but the dataset has 2 features",
    ),
    (
        "sizes[-1] vs outputs",
        {"network": network_spec(sizes=[2, 8, 2])},
        422,
        "network.sizes: sizes[-1] is 2 but the dataset has 1 outputs",
    ),
    (
        "unknown activation",
        {"network": network_spec(hidden_activation="swish")},
        422,
        "network.hidden_activation: Input should be 'sigmoid', 'tanh', 'relu' or 'identity'",
    ),
    (
        "unknown cost",
        {"network": network_spec(cost="hinge")},
        422,
        "network.cost: Input should be 'quadratic', 'cross_entropy' or 'log_likelihood'",
    ),
    (
        "unknown optimizer",
        {"training": training_config(optimizer="rmsprop")},
        422,
        "training.optimizer: Input should be 'sgd', 'momentum' or 'adam'",
    ),
    (
        "log_likelihood needs softmax",
        {"network": network_spec(cost="log_likelihood")},
        422,
        "network.cost: log_likelihood needs output_activation softmax"
        " (output activation is sigmoid)",
    ),
    (
        "cross_entropy needs outputs in (0,1)",
        {"network": network_spec(output_activation="identity")},
        422,
        "network.cost: cross_entropy needs outputs in (0, 1): use output_activation sigmoid"
        " or softmax (output activation is identity)",
    ),
    (
        "zero learning rate",
        {"training": training_config(learning_rate=0)},
        422,
        "training.learning_rate: Input should be greater than 0",
    ),
    (
        "negative epochs",
        {"training": training_config(epochs=-1)},
        422,
        "training.epochs: Input should be greater than 0",
    ),
    (
        "zero batch size",
        {"training": training_config(batch_size=0)},
        422,
        "training.batch_size: Input should be greater than 0",
    ),
    (
        "batch larger than the training split",
        {"training": training_config(batch_size=30, validation_fraction=0.5)},
        422,
        "training.batch_size: 30 is larger than the training split (20 samples)",
    ),
    (
        "initial weights of the wrong shape",
        {
            "initial_weights": [
                {"weights": [[0.0] * 8] * 2, "biases": [0.0] * 8},
                {"weights": [[0.0] * 8], "biases": [0.0]},
            ]
        },
        422,
        "initial_weights[0].weights: expected 8x2, got 2x8",
    ),
    (
        "unknown dataset",
        {"dataset_id": "nope"},
        404,
        "dataset 'nope' not found",
    ),
    (
        "unknown dataset name",
        {"dataset_id": None, "dataset_name": "nope"},
        404,
        "dataset named 'nope' not found",
    ),
    (
        "no dataset reference",
        {"dataset_id": None},
        422,
        "body: give exactly one of dataset_id and dataset_name",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "status", "detail"), [c[1:] for c in BAD_JOBS], ids=[c[0] for c in BAD_JOBS]
)
def test_bad_job_is_refused_and_stores_nothing(
    client: TestClient,
    session: Session,
    overrides: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    dataset = xor_dataset(client, n_samples=40)
    payload: dict[str, Any] = {
        "dataset_id": dataset["id"],
        "network": network_spec(),
        "training": training_config(),
    }
    payload.update(overrides)
    response = client.post("/v1/jobs", json=payload)
    assert response.status_code == status, response.text
    assert response.json()["detail"] == detail
    assert counts(session)["jobs"] == 0
