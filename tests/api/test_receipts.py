"""``GET /v1/jobs/{id}/receipt`` and ``POST /v1/jobs/{id}/replay``: the receipt lists the
inputs (each digest recomputable from what the API hands out) and the worker's
environment; a replay on the same machine matches bit for bit; a replay whose result or
environment differs says so. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import platform
from typing import Any

import numpy as np
import pytest
import threadpoolctl
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.datasets import arrays_sha256
from app.db.models import Job, Metric
from app.nn import Network
from app.services import environment
from tests.helpers import Driver, counts
from worker.runner import Worker

NETWORK = {"sizes": [2, 8, 3], "output_activation": "softmax", "cost": "log_likelihood"}
TRAINING = {
    "epochs": 6,
    "batch_size": 8,
    "learning_rate": 0.05,
    "optimizer": "adam",
    "validation_fraction": 0.25,
    "seed": 11,
}


def generate(client: TestClient) -> dict[str, Any]:
    body = {"kind": "blobs", "n_samples": 90, "n_classes": 3, "seed": 4}
    response = client.post("/v1/datasets/generate", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def train(client: TestClient, worker: Worker, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    assert worker.run_once() == response.json()["id"]
    job = client.get(f"/v1/jobs/{response.json()['id']}").json()
    assert job["status"] == "succeeded", job
    return job  # type: ignore[no-any-return]


def replay(client: TestClient, job_id: str) -> dict[str, Any]:
    response = client.post(f"/v1/jobs/{job_id}/replay")
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def test_receipt_lists_the_inputs_and_the_environment(client: TestClient, worker: Worker) -> None:
    data = generate(client)
    start = [
        {"weights": np.full((8, 2), 0.25).tolist(), "biases": [0.5] * 8},
        {"weights": np.full((3, 8), -0.125).tolist(), "biases": [0.0, 1.0, 2.0]},
    ]
    job = train(
        client,
        worker,
        {
            "dataset_id": data["id"],
            "network": NETWORK,
            "training": TRAINING,
            "initial_weights": start,
        },
    )
    receipt = client.get(f"/v1/jobs/{job['id']}/receipt").json()
    assert receipt["job_id"] == job["id"]
    inputs = receipt["inputs"]

    # The dataset digest: recomputed from the download, and shown on the dataset.
    npz = client.get(f"/v1/datasets/{data['id']}/download", params={"format": "npz"})
    with np.load(io.BytesIO(npz.content), allow_pickle=False) as arrays:
        digest = arrays_sha256([("inputs", arrays["inputs"]), ("targets", arrays["targets"])])
    assert inputs["dataset_sha256"] == digest == data["sha256"]
    assert inputs["dataset_id"] == data["id"]
    assert (inputs["task"], inputs["classes"]) == ("classification", ["0", "1", "2"])

    # The spec with every default filled in.
    assert inputs["network"] == {
        "sizes": [2, 8, 3],
        "hidden_activation": "sigmoid",
        "output_activation": "softmax",
        "cost": "log_likelihood",
        "init": "default",
        "activations": None,
    }
    assert inputs["layer_activations"] == ["sigmoid", "softmax"]
    assert inputs["training"] == job["training"]
    assert inputs["training"]["beta2"] == 0.999 and inputs["training"]["lr_schedule"] == "constant"
    assert inputs["dtype"] == "float64"
    assert inputs["seeds"] == {
        "seed": 11,
        "initialization": None,  # the start weights were given
        "validation_split": 11,
        "shuffle": 11,
    }
    canonical = json.dumps(start, sort_keys=True, separators=(",", ":"))
    assert inputs["initial_weights_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert (inputs["parent_id"], inputs["from_mode"], inputs["start_epoch"]) == (None, None, 0)

    # The machine that trained it.
    env = receipt["environment"]
    assert env["numpy"] == np.__version__
    assert env["python"].startswith(platform.python_version())
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert [(b["library"], b["kernel"], b["threads"]) for b in env["blas"]] == [
        (i["internal_api"], i.get("architecture"), i["num_threads"]) for i in blas
    ]
    assert env["cpu"] == environment.cpu_model() and env["os"] == platform.platform()
    assert env["engine_gemm"] in ("blas", "numpy")
    assert receipt["resumed_in"] == []

    # The result: the weights digest recomputed from the .npz download.
    weights = client.get(f"/v1/jobs/{job['id']}/weights", params={"format": "npz"})
    with np.load(io.BytesIO(weights.content), allow_pickle=False) as w:
        pairs = [(f"{k}_{i}", w[f"{k}_{i}"]) for i in range(2) for k in ("weights", "biases")]
    result = receipt["result"]
    assert result["weights_sha256"] == arrays_sha256(pairs)
    assert result["final_metrics"] == job["final_metrics"]
    assert (result["status"], result["epochs"], result["attempts"]) == ("succeeded", 6, 1)
    assert receipt["replay"] is None

    missing = client.get("/v1/jobs/nope/receipt")
    assert (missing.status_code, missing.json()) == (404, {"detail": "job 'nope' not found"})


def test_a_replay_on_the_same_machine_matches_bit_for_bit(
    client: TestClient, worker: Worker
) -> None:
    data = generate(client)
    body = {"dataset_id": data["id"], "network": NETWORK, "training": TRAINING}
    original = train(client, worker, body)
    queued = replay(client, original["id"])
    assert queued["status"] == "queued" and queued["id"] != original["id"]
    assert queued["replay"] == {
        "of": original["id"],
        "matches": None,
        "max_abs_diff": None,
        "weights_identical": None,
        "metrics_identical": None,
        "first_difference": None,
        "differences": [],
    }
    assert (queued["network"], queued["training"]) == (original["network"], original["training"])
    assert worker.run_once() == queued["id"]
    done = client.get(f"/v1/jobs/{queued['id']}").json()
    assert done["status"] == "succeeded"
    assert done["replay"] == {
        "of": original["id"],
        "matches": True,
        "max_abs_diff": 0.0,
        "weights_identical": True,
        "metrics_identical": True,
        "first_difference": None,
        "differences": [],
    }
    receipt = client.get(f"/v1/jobs/{queued['id']}/receipt").json()
    assert receipt["replay"] == done["replay"]
    original_receipt = client.get(f"/v1/jobs/{original['id']}/receipt").json()
    assert receipt["inputs"] == original_receipt["inputs"]
    assert receipt["result"]["weights_sha256"] == original_receipt["result"]["weights_sha256"]

    # A continued job replays from the same parent state, and matches too.
    child = train(
        client,
        worker,
        {"from_job": {"id": original["id"], "mode": "continue"}, "training": {"epochs": 9}},
    )
    again = replay(client, child["id"])
    assert again["parent_id"] == original["id"] and again["from_mode"] == "continue"
    assert again["progress"]["epoch"] == 6
    assert worker.run_once() == again["id"]
    assert client.get(f"/v1/jobs/{again['id']}").json()["replay"]["matches"] is True
    child_receipt = client.get(f"/v1/jobs/{child['id']}/receipt").json()["inputs"]
    assert (child_receipt["parent_id"], child_receipt["start_epoch"]) == (original["id"], 6)
    assert child_receipt["seeds"]["initialization"] is None
    assert len(child_receipt["start_state_sha256"]) == 64


def test_a_replay_that_differs_says_where(
    client: TestClient, session: Session, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison can fail: the original's stored results are altered after it ran
    (as if another machine had rounded differently), and the replay's worker reports
    another NumPy; the verdict names both."""
    data = generate(client)
    body = {"dataset_id": data["id"], "network": NETWORK, "training": TRAINING}
    original = train(client, worker, body)
    weights = client.get(f"/v1/jobs/{original['id']}/weights").json()
    weights["layers"][1]["biases"][2] += 2.0**-40
    altered = Network.from_document(weights).to_npz()
    session.execute(update(Job).where(Job.id == original["id"]).values(weights=altered))
    session.execute(
        update(Metric)
        .where(Metric.job_id == original["id"], Metric.epoch == 4)
        .values(validation_loss=Metric.validation_loss + 1e-12)
    )
    session.commit()

    real = environment.capture
    monkeypatch.setattr(environment, "capture", lambda: {**real(), "numpy": "0.0-other"})
    queued = replay(client, original["id"])
    assert worker.run_once() == queued["id"]
    verdict = client.get(f"/v1/jobs/{queued['id']}").json()["replay"]
    assert verdict["matches"] is False
    assert verdict["weights_identical"] is False and verdict["metrics_identical"] is False
    assert verdict["max_abs_diff"] == pytest.approx(2.0**-40, rel=1e-3)
    assert verdict["first_difference"].startswith("weights: layer 2 differs")
    assert verdict["differences"] == ["environment.numpy"]


def test_replay_refusals(client: TestClient, session: Session, settings: Any) -> None:
    data = generate(client)
    body = {"dataset_id": data["id"], "network": NETWORK, "training": TRAINING}
    missing = client.post("/v1/jobs/nope/replay")
    assert (missing.status_code, missing.json()) == (404, {"detail": "job 'nope' not found"})
    queued = client.post("/v1/jobs", json=body).json()
    before = counts(session)
    refused = client.post(f"/v1/jobs/{queued['id']}/replay")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"job {queued['id']!r} is queued; only a succeeded job can be replayed (a run stopped "
        "by a cancel, a time limit or a sweep ended at a point a replay would not reproduce)"
    )
    driver = Driver(settings)
    try:
        lease = driver.claim()
        driver.finish(lease, "succeeded", weights=b"")
    finally:
        driver.close()
    assert client.delete(f"/v1/datasets/{data['id']}").status_code == 204
    gone = client.post(f"/v1/jobs/{queued['id']}/replay")
    assert gone.status_code == 409
    assert gone.json()["detail"] == (
        f"job {queued['id']!r}'s dataset was deleted; a replay needs the same data"
    )
    assert counts(session)["jobs"] == before["jobs"]  # no replay was stored
