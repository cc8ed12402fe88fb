"""``from_job``: a job continued from another ends bit-identical to one run of the total
epochs (weights and every metric row); a warm start takes the parent's final weights with
a fresh optimizer; lineage lists the ancestors; bad requests say what is wrong and store
nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from tests.helpers import Driver, counts, wait_for
from worker.runner import Worker

NETWORK = {"sizes": [2, 12, 1], "hidden_activation": "tanh", "cost": "cross_entropy"}
TRAININGS: dict[str, dict[str, Any]] = {
    # plain SGD takes the fused gemm path; momentum and Adam carry optimizer state;
    # plateau keeps schedule state; the validation split has its own seeded permutation.
    "sgd": {"optimizer": "sgd", "learning_rate": 0.5, "l2": 0.01},
    "momentum": {"optimizer": "momentum", "momentum": 0.9, "nesterov": True, "learning_rate": 0.1},
    "adam": {
        "optimizer": "adam",
        "learning_rate": 0.01,
        "lr_schedule": "plateau",
        "lr_patience": 1,
        "dtype": "float32",
    },
}
BASE = {"batch_size": 16, "validation_fraction": 0.2, "seed": 5}


def post(client: TestClient, body: dict[str, Any], status: int = 202) -> dict[str, Any]:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def dataset(client: TestClient, **extra: Any) -> dict[str, Any]:
    body = {"kind": "circles", "n_samples": 150, "noise": 0.1, "seed": 3, **extra}
    response = client.post("/v1/datasets/generate", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def train(client: TestClient, worker: Worker, body: dict[str, Any]) -> dict[str, Any]:
    job = post(client, body)
    assert worker.run_once() == job["id"]
    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded", done
    return done  # type: ignore[no-any-return]


def arrays(client: TestClient, job_id: str) -> dict[str, np.ndarray]:
    response = client.get(f"/v1/jobs/{job_id}/weights", params={"format": "npz"})
    assert response.status_code == 200, response.text
    with np.load(io.BytesIO(response.content), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def curve(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    """Every metric row with everything but its wall time."""
    items = client.get(f"/v1/jobs/{job_id}/metrics").json()["items"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in items]


def assert_same_result(client: TestClient, a: str, b: str) -> None:
    left, right = arrays(client, a), arrays(client, b)
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].dtype == right[name].dtype
        assert left[name].tobytes() == right[name].tobytes(), name
    assert curve(client, a) == curve(client, b)
    final_a = client.get(f"/v1/jobs/{a}").json()["final_metrics"]
    assert final_a == client.get(f"/v1/jobs/{b}").json()["final_metrics"]


@pytest.fixture
def rare_checkpoints(settings: Settings) -> Iterator[Worker]:
    """A worker that takes no periodic checkpoint in these short jobs: what a continue
    starts from can only be the final state stored when the parent finished."""
    worker = Worker(settings.model_copy(update={"checkpoint_seconds": 3600}), owner="rare")
    yield worker
    worker.close()


@pytest.mark.parametrize("optimizer", list(TRAININGS))
def test_continue_is_bit_identical_to_one_run(
    client: TestClient, rare_checkpoints: Worker, optimizer: str
) -> None:
    worker = rare_checkpoints
    data = dataset(client)
    training = {**BASE, **TRAININGS[optimizer]}
    body = {"dataset_id": data["id"], "network": NETWORK}
    parent = train(client, worker, {**body, "training": {**training, "epochs": 6}})
    one_go = train(client, worker, {**body, "training": {**training, "epochs": 15}})

    queued = post(
        client,
        {"from_job": {"id": parent["id"], "mode": "continue"}, "training": {"epochs": 11}},
    )
    assert queued["parent_id"] == parent["id"] and queued["from_mode"] == "continue"
    assert queued["dataset_id"] == data["id"]
    assert queued["progress"] == {"epoch": 6, "epochs": 11, "eta_seconds": None}
    assert queued["training"] == {**parent["training"], "epochs": 11}
    # Its curve starts with the parent's six epochs, before it has even run.
    assert curve(client, queued["id"]) == curve(client, parent["id"])
    assert worker.run_once() == queued["id"]
    # A continue of a continue: the full request, only epochs changed, is accepted too.
    child = client.get(f"/v1/jobs/{queued['id']}").json()
    grandchild = train(
        client,
        worker,
        {
            "from_job": {"id": child["id"], "mode": "continue"},
            "dataset_id": data["id"],
            "network": NETWORK,
            "training": {**training, "epochs": 15},
        },
    )
    assert [row["epoch"] for row in curve(client, grandchild["id"])] == list(range(1, 16))
    assert_same_result(client, grandchild["id"], one_go["id"])

    lineage = client.get(f"/v1/jobs/{grandchild['id']}/lineage").json()
    assert lineage["job_id"] == grandchild["id"] and lineage["missing"] is None
    assert [job["id"] for job in lineage["ancestors"]] == [child["id"], parent["id"]]
    assert lineage["ancestors"][0]["parent_id"] == parent["id"]
    assert client.get(f"/v1/jobs/{one_go['id']}/lineage").json()["ancestors"] == []


def test_continue_from_a_job_cancelled_mid_run(
    client: TestClient, settings: Settings, worker: Worker
) -> None:
    """Wherever a cancel stops the parent (mid-epoch, usually), the continued job ends
    where one uninterrupted run ends."""
    data = dataset(client, n_samples=600)
    body = {"dataset_id": data["id"], "network": NETWORK}
    training = {**BASE, **TRAININGS["momentum"], "batch_size": 4}
    parent = post(client, {**body, "training": {**training, "epochs": 10_000}})
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    try:
        wait_for(
            lambda: client.get(f"/v1/jobs/{parent['id']}").json()["progress"]["epoch"] >= 2,
            timeout=60,
            what="the parent to train two epochs",
        )
        assert client.post(f"/v1/jobs/{parent['id']}/cancel").status_code == 202
    finally:
        thread.join(timeout=60)
    stopped = client.get(f"/v1/jobs/{parent['id']}").json()
    assert stopped["status"] == "cancelled", stopped
    epochs = stopped["progress"]["epoch"] + 2
    child = train(
        client,
        worker,
        {"from_job": {"id": parent["id"], "mode": "continue"}, "training": {"epochs": epochs}},
    )
    one_go = train(client, worker, {**body, "training": {**training, "epochs": epochs}})
    assert_same_result(client, child["id"], one_go["id"])


def test_weights_mode_warm_starts_with_a_fresh_optimizer(
    client: TestClient, worker: Worker
) -> None:
    data = dataset(client)
    other = dataset(client, seed=9, name="circles-9")  # same sizes, other samples
    body = {"dataset_id": data["id"], "network": NETWORK}
    parent = train(client, worker, {**body, "training": {**BASE, **TRAININGS["adam"], "epochs": 4}})
    layers = client.get(f"/v1/jobs/{parent['id']}/weights").json()["layers"]

    fine_tune = {"epochs": 3, "learning_rate": 0.05, "optimizer": "momentum", "momentum": 0.5}
    child = train(
        client,
        worker,
        {
            "from_job": {"id": parent["id"], "mode": "weights"},
            "dataset_id": other["id"],
            "training": fine_tune,
        },
    )
    assert child["parent_id"] == parent["id"] and child["from_mode"] == "weights"
    assert child["dataset_id"] == other["id"]
    # Unset fields are the parent's (dtype float32, batch size, seed, ...).
    assert child["training"] == {**parent["training"], **fine_tune}
    assert [row["epoch"] for row in curve(client, child["id"])] == [1, 2, 3]
    # The same as a job given those weights explicitly.
    explicit = train(
        client,
        worker,
        {
            "dataset_id": other["id"],
            "network": NETWORK,
            "training": child["training"],
            "initial_weights": [
                {k: v for k, v in lay.items() if k != "activation"} for lay in layers
            ],
        },
    )
    assert_same_result(client, child["id"], explicit["id"])

    # The activations may change in weights mode (not the sizes); the network fields not
    # given are the parent's (a network, when given, names its sizes).
    relu = train(
        client,
        worker,
        {
            "from_job": {"id": parent["id"], "mode": "weights"},
            "network": {"sizes": [2, 12, 1], "hidden_activation": "relu"},
            "training": {"epochs": 1},
        },
    )
    assert relu["network"]["hidden_activation"] == "relu"


def test_lineage_names_a_deleted_ancestor(client: TestClient, worker: Worker) -> None:
    data = dataset(client)
    body = {"dataset_id": data["id"], "network": NETWORK, "training": {**BASE, "epochs": 2}}
    parent = train(client, worker, body)
    child = train(
        client, worker, {"from_job": {"id": parent["id"], "mode": "weights"}, "training": {}}
    )
    assert client.delete(f"/v1/jobs/{parent['id']}").status_code == 204
    lineage = client.get(f"/v1/jobs/{child['id']}/lineage").json()
    assert lineage == {"job_id": child["id"], "ancestors": [], "missing": parent["id"]}
    assert client.get(f"/v1/jobs/{child['id']}").json()["parent_id"] == parent["id"]
    missing = client.get("/v1/jobs/nope/lineage")
    assert (missing.status_code, missing.json()) == (404, {"detail": "job 'nope' not found"})


# ---- refusals: exact status and detail, nothing stored ----------------------------------


@pytest.fixture
def parents(client: TestClient, settings: Settings, worker: Worker) -> dict[str, Any]:
    """A succeeded parent (5 epochs), one that stopped early, a queued one, a running
    one and one that failed without weights."""
    data = dataset(client)
    body = {"dataset_id": data["id"], "network": NETWORK}
    done = train(client, worker, {**body, "training": {**BASE, "epochs": 5}})
    early = train(
        client,
        worker,
        {**body, "training": {**BASE, "epochs": 50, "early_stopping_patience": 1}},
    )
    assert early["final_metrics"]["stopped_early"], early
    diverged = post(client, {**body, "training": {**BASE, "epochs": 5}})
    running = post(client, {**body, "training": {**BASE, "epochs": 5}})
    queued = post(client, {**body, "training": {**BASE, "epochs": 5}})
    driver = Driver(settings)
    try:
        failing = driver.claim()
        assert failing.job_id == diverged["id"]
        driver.finish(failing, "failed", error="training diverged at epoch 2: train loss is inf")
        assert driver.claim().job_id == running["id"]
    finally:
        driver.close()
    other = dataset(client, seed=4, name="other")
    return {
        "done": done["id"],
        "early": early["id"],
        "queued": queued["id"],
        "running": running["id"],
        "diverged": diverged["id"],
        "other_dataset": other["id"],
        "dataset": data["id"],
    }


REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    (
        "unknown parent",
        {"from_job": {"id": "nope", "mode": "continue"}},
        404,
        "from_job.id: job 'nope' not found",
    ),
    (
        "parent queued",
        {"from_job": {"id": "{queued}", "mode": "continue"}, "training": {"epochs": 9}},
        409,
        "from_job.id: job '{queued}' is still queued; it can be started from once it has finished",
    ),
    (
        "parent running",
        {"from_job": {"id": "{running}", "mode": "continue"}, "training": {"epochs": 9}},
        409,
        "from_job.id: job '{running}' is still running; it can be started from once it has "
        "finished",
    ),
    (
        "parent running, weights mode",
        {"from_job": {"id": "{running}", "mode": "weights"}},
        409,
        "from_job.id: job '{running}' is still running; it can be started from once it has "
        "finished",
    ),
    (
        "parent without weights",
        {"from_job": {"id": "{diverged}", "mode": "weights"}},
        409,
        "from_job.id: job '{diverged}' has no weights to start from (it failed without any: "
        "training diverged at epoch 2: train loss is inf)",
    ),
    (
        "continue changes the learning rate",
        {
            "from_job": {"id": "{done}", "mode": "continue"},
            "training": {"epochs": 9, "learning_rate": 0.1},
        },
        422,
        "training.learning_rate: is 0.1 but job '{done}' was trained with 0.5; `continue` may "
        "change only training.epochs (use mode `weights` for a new training config)",
    ),
    (
        "continue changes the dtype",
        {
            "from_job": {"id": "{done}", "mode": "continue"},
            "training": {"epochs": 9, "dtype": "float32"},
        },
        422,
        "training.dtype: is 'float32' but job '{done}' was trained with 'float64'; `continue` "
        "may change only training.epochs (use mode `weights` for a new training config)",
    ),
    (
        "continue changes an activation",
        {
            "from_job": {"id": "{done}", "mode": "continue"},
            "network": {"sizes": [2, 12, 1], "hidden_activation": "relu"},
            "training": {"epochs": 9},
        },
        422,
        "network.hidden_activation: is 'relu' but job '{done}' has 'tanh'; `continue` keeps "
        "the network (use mode `weights` to change it)",
    ),
    (
        "continue on other data",
        {
            "from_job": {"id": "{done}", "mode": "continue"},
            "dataset_id": "{other_dataset}",
            "training": {"epochs": 9},
        },
        422,
        "dataset_id: dataset '{other_dataset}' is not the data job '{done}' trained on "
        "(SHA-256 {sha}); `continue` needs the same data (use mode `weights`)",
    ),
    (
        "continue without more epochs",
        {"from_job": {"id": "{done}", "mode": "continue"}},
        422,
        "training.epochs: is 5 but job '{done}' has already trained 5 epochs; give the new "
        "total, more than that",
    ),
    (
        "continue a job that stopped early",
        {"from_job": {"id": "{early}", "mode": "continue"}, "training": {"epochs": 90}},
        409,
        "from_job.id: job '{early}' stopped early (early_stopping_patience) at epoch "
        "{early_epoch}; one longer run would have stopped there too, so there is nothing to "
        "continue (use mode `weights` to train on)",
    ),
    (
        "weights mode with other sizes",
        {"from_job": {"id": "{done}", "mode": "weights"}, "network": {"sizes": [2, 4, 1]}},
        422,
        "network.sizes: is [2, 4, 1] but job '{done}''s weights are for [2, 12, 1]; mode "
        "`weights` keeps the layer sizes",
    ),
    (
        "from_job and initial_weights",
        {
            "from_job": {"id": "{done}", "mode": "weights"},
            "initial_weights": [{"weights": [[0.0, 0.0]], "biases": [0.0]}],
        },
        422,
        "body: give either initial_weights or from_job: from_job sets the start weights",
    ),
    (
        "unknown mode",
        {"from_job": {"id": "{done}", "mode": "resume"}},
        422,
        "from_job.mode: Input should be 'continue' or 'weights'",
    ),
    (
        "no network and no from_job",
        {"dataset_id": "{dataset}"},
        422,
        "body: network is required (or give from_job)",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "detail"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_bad_from_job_is_refused_and_stores_nothing(
    client: TestClient,
    session: Session,
    parents: dict[str, Any],
    body: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    early = client.get(f"/v1/jobs/{parents['early']}").json()
    names = {
        **parents,
        "early_epoch": early["progress"]["epoch"],
        "sha": client.get(f"/v1/datasets/{parents['dataset']}").json()["sha256"],
    }

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**names)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    before = counts(session)
    response = client.post("/v1/jobs", json=fill(body))
    assert response.status_code == status, response.text
    assert response.json()["detail"] == fill(detail)
    assert counts(session) == before
