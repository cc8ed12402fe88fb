"""``/v1/sweeps`` in-process, with the real worker: create, run, pruned trials, invalid
trials, cancel, delete, seeded reproducibility, ownership, and the bad-input table (exact
status and detail, nothing stored). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import io
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.main import create_app
from app.config import Settings
from app.db.models import Sweep, SweepTrial
from app.nn import NetworkSpec, TrainingConfig, train
from app.schemas.jobs import JobSpec
from tests.helpers import (
    API_KEY,
    OTHER_API_KEY,
    counts,
    make_settings,
    network_spec,
    training_config,
    xor_dataset,
)
from worker.runner import Worker

LR = {"type": "choice", "values": [0.5, 2.0]}
SIZES = {"type": "choice", "values": [[2, 4, 1], [2, 8, 1]]}


def body(dataset_id: str, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "xor-grid",
        "dataset_id": dataset_id,
        "network": network_spec(),
        "training": training_config(epochs=4, validation_fraction=0.25),
        "space": {"training.learning_rate": LR, "network.sizes": SIZES},
        "sampler": {"kind": "grid", "seed": 0},
        "objective": {"metric": "validation_loss"},
    }
    payload.update(overrides)
    return payload


def create(client: TestClient, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/sweeps", json=payload)
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()
    return data


def run_all(worker: Worker, client: TestClient, sweep_id: str, limit: int = 50) -> list[dict]:
    """Run jobs until none is left, checking the sweep's parallelism before each claim."""
    parallelism = client.get(f"/v1/sweeps/{sweep_id}").json()["parallelism"]
    for _ in range(limit):
        live = client.get(f"/v1/sweeps/{sweep_id}").json()["counts"]
        assert live.get("queued", 0) + live.get("running", 0) <= parallelism, live
        if worker.run_once() is None:
            break
    trials: list[dict] = client.get(f"/v1/sweeps/{sweep_id}/trials").json()["items"]
    return trials


def sweep_rows(session: Session) -> dict[str, int]:
    session.expire_all()
    found = counts(session)
    for table in (Sweep, SweepTrial):
        found[table.__tablename__] = session.scalar(select(func.count()).select_from(table)) or 0
    return found


def test_create_answers_202_with_the_sweep_and_its_first_trials_queued(
    client: TestClient,
) -> None:
    dataset = xor_dataset(client)
    payload = body(dataset["id"], parallelism=3, sampler={"kind": "random"}, max_trials=5)
    payload["space"] = {"training.learning_rate": {"type": "log_uniform", "low": 0.1, "high": 5}}
    sweep = create(client, payload)
    assert set(sweep) >= {
        "id", "name", "status", "dataset_id", "network", "training", "space", "sampler",
        "pruner", "objective", "max_trials", "parallelism", "counts", "best", "created_at",
        "finished_at",
    }  # fmt: skip
    assert sweep["status"] == "queued" and sweep["counts"] == {"queued": 3}
    assert sweep["best"] is None and sweep["finished_at"] is None
    assert sweep["max_trials"] == 5 and sweep["pruner"] == {"kind": "none"}
    assert isinstance(sweep["sampler"]["seed"], int)  # chosen, and shown, when omitted
    assert sweep["objective"] == {"metric": "validation_loss", "direction": "minimize"}
    assert client.get(f"/v1/sweeps/{sweep['id']}").json()["id"] == sweep["id"]
    listed = client.get("/v1/sweeps").json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == sweep["id"]
    jobs = client.get("/v1/jobs").json()["items"]
    assert sorted(j["trial"] for j in jobs) == [0, 1, 2]
    assert {j["sweep_id"] for j in jobs} == {sweep["id"]}


def test_a_grid_sweep_runs_every_point_once_with_its_params_applied_exactly(
    client: TestClient, worker: Worker
) -> None:
    dataset = xor_dataset(client)
    sweep = create(client, body(dataset["id"], parallelism=2))
    assert sweep["max_trials"] == 4  # the grid's size
    trials = run_all(worker, client, sweep["id"])
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    points = {(t["params"]["training.learning_rate"], str(t["params"]["network.sizes"]))
              for t in trials}  # fmt: skip
    assert points == {(lr, str(s)) for lr in LR["values"] for s in SIZES["values"]}
    for trial in trials:
        job = client.get(f"/v1/jobs/{trial['job_id']}").json()
        assert job["status"] == trial["status"] == "succeeded" and trial["epochs"] == 4
        assert (job["sweep_id"], job["trial"]) == (sweep["id"], trial["number"])
        assert job["training"]["learning_rate"] == trial["params"]["training.learning_rate"]
        assert job["network"]["sizes"] == trial["params"]["network.sizes"]
        base = {k: v for k, v in job["training"].items() if k != "learning_rate"}
        assert base == {**JobSpec.stored(network_spec(), body("")["training"]).training
                        .model_dump(exclude={"learning_rate"})}  # fmt: skip
        assert trial["value"] == job["final_metrics"]["validation_loss"]
    done = client.get(f"/v1/sweeps/{sweep['id']}").json()
    assert done["status"] == "succeeded" and done["counts"] == {"succeeded": 4}
    best = min(trials, key=lambda t: (t["value"], t["number"]))
    assert done["best"] == {
        "job_id": best["job_id"], "number": best["number"], "params": best["params"],
        "value": best["value"],
    }  # fmt: skip
    assert done["finished_at"] is not None


def test_a_trial_whose_params_make_an_invalid_job_fails_with_the_reason(
    client: TestClient, worker: Worker
) -> None:
    dataset = xor_dataset(client)  # 40 samples: 30 for training
    space = {"training.batch_size": {"type": "choice", "values": [4, 31]}}
    sweep = create(client, body(dataset["id"], space=space, parallelism=2))
    trials = run_all(worker, client, sweep["id"])
    by_batch = {t["params"]["training.batch_size"]: t for t in trials}
    bad = by_batch[31]
    assert bad["status"] == "failed" and bad["epochs"] == 0 and bad["value"] is None
    assert "training.batch_size" in bad["error"] and "31" in bad["error"], bad["error"]
    assert client.get(f"/v1/jobs/{bad['job_id']}").json()["error"] == bad["error"]
    assert by_batch[4]["status"] == "succeeded"
    done = client.get(f"/v1/sweeps/{sweep['id']}").json()
    assert done["status"] == "succeeded" and done["counts"] == {"failed": 1, "succeeded": 1}
    assert done["best"]["number"] == by_batch[4]["number"]


def test_pruned_trials_keep_their_metrics_weights_and_predict(
    client: TestClient, worker: Worker
) -> None:
    dataset = xor_dataset(client)
    # Seed 5 orders this grid [2.0, 1e-6, 2e-6, 3e-6]: the good rate runs first, and the
    # median pruner stops each slow one once it is worse than the median of the others.
    space = {"training.learning_rate": {"type": "choice", "values": [2.0, 1e-6, 2e-6, 3e-6]}}
    payload = body(
        dataset["id"],
        space=space,
        sampler={"kind": "grid", "seed": 5},
        pruner={"kind": "median", "n_startup_trials": 1},
        training=training_config(epochs=8, validation_fraction=0.25),
    )
    sweep = create(client, payload)
    trials = run_all(worker, client, sweep["id"])
    assert trials[0]["params"]["training.learning_rate"] == 2.0
    assert trials[0]["status"] == "succeeded" and trials[0]["epochs"] == 8
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert [t["number"] for t in pruned] == [1, 2, 3]
    listed = client.get("/v1/jobs", params={"status": "pruned"}).json()
    assert sorted(j["id"] for j in listed["items"]) == sorted(t["job_id"] for t in pruned)
    data = client.get(f"/v1/datasets/{dataset['id']}/download").json()
    x, y = np.array(data["inputs"]), np.array(data["targets"])
    for trial in pruned:
        assert 1 <= trial["pruned_epoch"] == trial["epochs"] < 8
        curve = client.get(f"/v1/jobs/{trial['job_id']}/metrics").json()["items"]
        assert [row["epoch"] for row in curve] == list(range(1, trial["epochs"] + 1))
        assert trial["value"] == curve[-1]["validation_loss"]  # Optuna's: the last reported
        job = client.get(f"/v1/jobs/{trial['job_id']}").json()
        assert job["final_metrics"]["epoch"] == trial["epochs"]
        # Its weights are those of the pruned epoch: the same training for that many
        # epochs gives them bit for bit.
        npz = client.get(f"/v1/jobs/{trial['job_id']}/weights", params={"format": "npz"})
        assert npz.status_code == 200
        engine = JobSpec.stored(job["network"], job["training"]).training.engine()
        config = TrainingConfig(**{**engine.to_dict(), "epochs": trial["epochs"]})
        alone = train(NetworkSpec(**job["network"]), config, x, y, task="classification")
        with np.load(io.BytesIO(npz.content)) as stored:
            for i, w in enumerate(alone.network.to_document()["layers"]):
                np.testing.assert_array_equal(stored[f"weights_{i}"], np.array(w["weights"]))
        predicted = client.post(f"/v1/jobs/{trial['job_id']}/predict", json={"inputs": [[0, 1]]})
        assert predicted.status_code == 200 and len(predicted.json()["outputs"]) == 1
    done = client.get(f"/v1/sweeps/{sweep['id']}").json()
    assert done["counts"] == {"succeeded": 1, "pruned": 3} and done["best"]["number"] == 0
    for name in ("trials.png", "params.svg"):
        plot = client.get(f"/v1/sweeps/{sweep['id']}/plots/{name}")
        assert plot.status_code == 200 and len(plot.content) > 1000
    assert client.get(f"/v1/sweeps/{sweep['id']}/plots/trials.svg").text.count("<svg") == 1


def test_seeded_grid_and_random_sweeps_produce_the_same_trials(client: TestClient) -> None:
    dataset = xor_dataset(client)
    lr = {"type": "log_uniform", "low": 0.01, "high": 10}
    batch = {"type": "int", "low": 1, "high": 30, "log": True}
    grid = {"training.learning_rate": LR, "network.sizes": SIZES}
    continuous = {"training.learning_rate": lr, "training.batch_size": batch}
    for sampler, space, n in (
        ({"kind": "grid", "seed": 3}, grid, 4),
        ({"kind": "random", "seed": 3}, continuous, 6),
    ):
        payload = body(dataset["id"], sampler=sampler, space=space, max_trials=n, parallelism=n)
        runs = []
        for _ in range(2):
            sweep = create(client, payload)  # all n trials asked at once
            runs.append([t["params"] for t in client.get(
                f"/v1/sweeps/{sweep['id']}/trials").json()["items"]])  # fmt: skip
        assert runs[0] == runs[1] and len(runs[0]) == n
        assert len({str(p) for p in runs[0]}) == n


def test_cancel_stops_the_queued_trials_and_starts_no_more(
    client: TestClient, worker: Worker
) -> None:
    dataset = xor_dataset(client)
    sweep = create(client, body(dataset["id"], parallelism=2))
    cancelled = client.post(f"/v1/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["counts"] == {"cancelled": 2}
    assert cancelled.json()["finished_at"] is not None
    assert worker.run_once() is None  # nothing queued, and no new trial
    again = client.post(f"/v1/sweeps/{sweep['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["detail"] == f"sweep '{sweep['id']}' is already cancelled"
    trials = client.get(f"/v1/sweeps/{sweep['id']}/trials").json()["items"]
    assert len(trials) == 2 and {t["status"] for t in trials} == {"cancelled"}


def test_delete_removes_the_sweep_its_trials_and_their_jobs(
    client: TestClient, worker: Worker, session: Session
) -> None:
    dataset = xor_dataset(client)
    before = sweep_rows(session)
    sweep = create(client, body(dataset["id"], parallelism=2))
    worker.run_once()  # one trial has metrics and weights
    assert client.delete(f"/v1/sweeps/{sweep['id']}").status_code == 204
    assert sweep_rows(session) == before
    assert client.get(f"/v1/sweeps/{sweep['id']}").status_code == 404
    assert client.delete(f"/v1/sweeps/{sweep['id']}").status_code == 404


def test_a_dataset_an_unfinished_sweep_uses_cannot_be_deleted(
    client: TestClient, worker: Worker
) -> None:
    dataset = xor_dataset(client)
    sweep = create(client, body(dataset["id"], parallelism=1))
    first = client.get(f"/v1/sweeps/{sweep['id']}/trials").json()["items"][0]["job_id"]
    client.post(f"/v1/jobs/{first}/cancel")  # no job uses it now, but more trials will
    refused = client.delete(f"/v1/datasets/{dataset['id']}")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (f"dataset '{dataset['id']}' is used by an unfinished sweep")
    run_all(worker, client, sweep["id"])  # a worker's tick tells trial 0, asks the rest
    done = client.get(f"/v1/sweeps/{sweep['id']}").json()
    assert done["counts"] == {"cancelled": 1, "succeeded": 3} and done["status"] == "succeeded"
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204


def test_a_user_sees_only_their_own_sweeps_and_trials(keyed_settings: Settings) -> None:
    alice = {"Authorization": f"Bearer {API_KEY}"}
    bob = {"Authorization": f"Bearer {OTHER_API_KEY}"}
    with TestClient(create_app(keyed_settings)) as client:
        dataset = client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40}, headers=alice
        ).json()
        response = client.post("/v1/sweeps", json=body(dataset["id"]), headers=alice)
        assert response.status_code == 202, response.text
        sweep = response.json()
        worker = Worker(keyed_settings, owner="w")
        try:
            assert worker.run_once() is not None  # trial 1 is made by the worker
        finally:
            worker.close()
        assert client.get(f"/v1/sweeps/{sweep['id']}", headers=bob).status_code == 404
        assert client.get("/v1/sweeps", headers=bob).json()["total"] == 0
        assert client.get("/v1/jobs", headers=bob).json()["total"] == 0
        assert client.post(f"/v1/sweeps/{sweep['id']}/cancel", headers=bob).status_code == 404
        assert client.delete(f"/v1/sweeps/{sweep['id']}", headers=bob).status_code == 404
        mine = client.get("/v1/jobs", headers=alice).json()
        assert sorted(j["trial"] for j in mine["items"]) == [0, 1]


# -- bad input: 422 (or 404/429) naming the path and the problem; nothing stored ----------

GRID_SPACE = {"training.learning_rate": LR, "network.sizes": SIZES}


def with_space(**space: Any) -> dict[str, Any]:
    return {"space": space}


BAD: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown path", with_space(**{"training.nope": LR}),
     422, "space.training.nope: unknown path; a path is one of network.sizes, "),
    ("unknown section", with_space(**{"optimizer.lr": LR}),
     422, "space.optimizer.lr: unknown path"),
    ("empty values", with_space(**{"training.l2": {"type": "choice", "values": []}}),
     422, "space.training.l2: values is empty: give at least one value"),
    ("repeated value", with_space(**{"training.l2": {"type": "choice", "values": [0, 1, 0]}}),
     422, "space.training.l2: values[2] repeats the value 0"),
    ("low >= high", with_space(**{"training.l2": {"type": "uniform", "low": 5, "high": 1}}),
     422, "space.training.l2: low (5) must be below high (1)"),
    ("low == high", with_space(**{"training.epochs": {"type": "int", "low": 3, "high": 3}}),
     422, "space.training.epochs: low (3) must be below high (3)"),
    ("log_uniform low <= 0",
     with_space(**{"training.learning_rate": {"type": "log_uniform", "low": 0, "high": 1}}),
     422, "space.training.learning_rate: log_uniform needs low > 0 (got 0)"),
    ("missing high", with_space(**{"training.l2": {"type": "uniform", "low": 0}}),
     422, "space.training.l2: uniform needs both 'low' and 'high'"),
    ("int with fractions",
     with_space(**{"training.epochs": {"type": "int", "low": 1.5, "high": 3}}),
     422, "space.training.epochs: int needs whole numbers: low is 1.5"),
    ("unknown type", with_space(**{"training.l2": {"type": "normal", "low": 0, "high": 1}}),
     422, "space.training.l2.type: Input should be 'choice', 'uniform', 'log_uniform' or 'int'"),
    ("grid with a continuous dimension",
     {"space": {**GRID_SPACE, "training.l2": {"type": "uniform", "low": 0, "high": 1}}},
     422, "space.training.l2: the grid sampler takes only choice dimensions; this one is uniform"),
    ("a string where a number goes",
     with_space(**{"training.learning_rate": {"type": "choice", "values": [0.5, "fast"]}}),
     422, "space.training.learning_rate: values[1] = 'fast': Input should be a valid number"),
    ("floats for an integer field",
     {"space": {"training.epochs": {"type": "uniform", "low": 1, "high": 5}},
      "sampler": {"kind": "random"}},
     422, "space.training.epochs: uniform gives floats, which training.epochs does not take"),
    ("a value out of the field's bounds",
     {"space": {"training.learning_rate": {"type": "uniform", "low": 0, "high": 5}},
      "sampler": {"kind": "tpe"}},
     422, "space.training.learning_rate: low 0: Input should be greater than 0"),
    ("an unknown activation",
     with_space(**{"network.hidden_activation": {"type": "choice", "values": ["relu", "gelu"]}}),
     422, "space.network.hidden_activation: values[1] = 'gelu': Input should be "),
    ("sizes of the wrong type",
     with_space(**{"network.sizes": {"type": "choice", "values": [[2, 8, 1], 8]}}),
     422, "space.network.sizes: values[1] = 8: Input should be a valid list"),
    ("max_trials over the cap", {"sampler": {"kind": "random"}, "max_trials": 5000},
     422, "max_trials: 5,000 trials; the limit is 1,000 (BACKPROP_MAX_SWEEP_TRIALS)"),
    ("parallelism over the cap", {"parallelism": 65},
     422, "parallelism: 65 trials at once; the limit is 64 (BACKPROP_MAX_SWEEP_PARALLELISM)"),
    ("a grid over the cap",
     with_space(**{f"training.{f}": {"type": "choice", "values": list(range(1, 33))}
                   for f in ("epochs", "lr_step_epochs")}),  # fmt: skip
     422, "space: the grid has 1,024 points; the limit is 1,000 trials "
          "(BACKPROP_MAX_SWEEP_TRIALS)"),
    ("more trials than grid points", {"max_trials": 5},
     422, "max_trials: 5 is more than the grid's 4 points"),
    ("unknown sampler", {"sampler": {"kind": "cmaes"}},
     422, "sampler.kind: Input should be 'grid', 'random' or 'tpe'"),
    ("another sampler's option", {"sampler": {"kind": "grid", "n_startup_trials": 3}},
     422, "sampler: n_startup_trials is not an option of grid (it takes no options)"),
    ("unknown pruner", {"pruner": {"kind": "asha"}},
     422, "pruner.kind: Input should be 'none', 'median', 'successive_halving' or 'hyperband'"),
    ("a pruner option Optuna refuses",
     {"pruner": {"kind": "successive_halving", "bootstrap_count": 2},
      "space": {"training.epochs": {"type": "choice", "values": [4, 5]}}},
     422, "pruner: bootstrap_count > 0 and min_resource == 'auto' are mutually incompatible"),
    ("unknown metric", {"objective": {"metric": "f1"}},
     422, "objective.metric: Input should be 'validation_loss', 'validation_accuracy', "),
    ("unknown direction", {"objective": {"metric": "train_loss", "direction": "up"}},
     422, "objective.direction: Input should be 'minimize' or 'maximize'"),
    ("a validation metric without a split",
     {"training": training_config(), "objective": {"metric": "validation_accuracy"}},
     422, "objective.metric: validation_accuracy needs a validation split in every trial"),
    ("a base spec that does not fit the dataset", {"network": network_spec(sizes=[3, 8, 1])},
     422, "network.sizes: sizes[0] is 3 but the dataset has 2 features"),
    ("both dataset references", {"dataset_name": "xor"},
     422, "body: give exactly one of dataset_id and dataset_name"),
    ("an empty space", {"space": {}},
     422, "space: Dictionary should have at least 1 item after validation, not 0"),
    ("an unknown field", {"budget": 3},
     422, "budget: Extra inputs are not permitted"),
    ("an unknown dataset", {"dataset_id": "missing"}, 404, "dataset 'missing' not found"),
]  # fmt: skip


def test_bad_input_is_refused_naming_the_path_and_nothing_is_stored(
    client: TestClient, session: Session
) -> None:
    dataset = xor_dataset(client)
    before = sweep_rows(session)
    wrong = []
    for name, overrides, status, detail in BAD:
        payload = copy.deepcopy(body(dataset["id"]))
        payload.update(overrides)
        response = client.post("/v1/sweeps", json=payload)
        got = response.json().get("detail", "")
        if response.status_code != status or not got.startswith(detail):
            wrong.append((name, response.status_code, got))
    assert not wrong, "\n".join(map(str, wrong))
    assert sweep_rows(session) == before


def test_an_accuracy_objective_needs_a_classifier(client: TestClient) -> None:
    sine = client.post("/v1/datasets/generate", json={"kind": "sine", "n_samples": 40}).json()
    payload = body(
        sine["id"],
        network=network_spec(sizes=[1, 8, 1], output_activation="identity", cost="quadratic"),
        objective={"metric": "train_accuracy"},
    )
    response = client.post("/v1/sweeps", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"] == (
        f"objective.metric: train_accuracy needs a classification dataset; dataset "
        f"'{sine['id']}' is regression"
    )


def test_a_full_queue_answers_429_and_stores_nothing(tmp_path: Any) -> None:
    settings = make_settings(tmp_path / "full.db", max_queued_jobs=1)
    from app.db.migrate import upgrade_head

    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        dataset = xor_dataset(client)
        create(client, body(dataset["id"]))  # its first trial fills the queue
        refused = client.post("/v1/sweeps", json=body(dataset["id"]))
        assert refused.status_code == 429 and refused.headers["Retry-After"]
        assert client.get("/v1/sweeps").json()["total"] == 1


def test_the_openapi_examples_run_as_they_are(client: TestClient, worker: Worker) -> None:
    schema = client.get("/openapi.json").json()
    examples = schema["paths"]["/v1/sweeps"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    generate = schema["paths"]["/v1/datasets/generate"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    dataset = client.post("/v1/datasets/generate", json=next(iter(generate.values()))["value"])
    assert dataset.status_code == 201, dataset.text
    for name, example in examples.items():
        sweep = create(client, example["value"])
        for _ in range(50):
            if worker.run_once() is None:
                break
        done = client.get(f"/v1/sweeps/{sweep['id']}").json()
        assert done["status"] == "succeeded", (name, done)
        assert done["best"] is not None, name
        if name == "grid":
            assert done["best"]["value"] == 1.0  # some grid point solves XOR
        else:
            assert done["best"]["value"] < 0.2, done["best"]  # a low validation loss
            assert done["counts"].get("pruned", 0) > 0, done["counts"]


def test_a_retried_create_with_the_same_idempotency_key_makes_one_sweep(
    client: TestClient,
) -> None:
    dataset = xor_dataset(client)
    headers = {"Idempotency-Key": "sweep-retry-1"}
    first = client.post("/v1/sweeps", json=body(dataset["id"]), headers=headers)
    again = client.post("/v1/sweeps", json=body(dataset["id"]), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert client.get("/v1/sweeps").json()["total"] == 1
    assert client.get("/v1/jobs").json()["total"] == 1  # its first trial, once


def test_trials_over_a_limit_fail_with_the_limit_as_the_reason(
    client: TestClient, worker: Worker
) -> None:
    dataset = xor_dataset(client)
    space = {"training.epochs": {"type": "int", "low": 10**19, "high": 10**20}}
    payload = body(dataset["id"], space=space, sampler={"kind": "random", "seed": 0},
                   max_trials=2, parallelism=2)  # fmt: skip
    sweep = create(client, payload)  # each trial's job is refused: it is stored failed
    assert sweep["finished_at"] is not None and sweep["status"] == "failed"
    assert sweep["error"].startswith("none of its 2 trials completed; the first error: ")
    trials = client.get(f"/v1/sweeps/{sweep['id']}/trials").json()["items"]
    for trial in trials:
        assert trial["status"] == "failed" and trial["epochs"] == 0
        assert trial["error"].startswith("training.epochs: "), trial["error"]
        assert trial["error"].endswith("the limit is 100,000 (BACKPROP_MAX_EPOCHS)")
        job = client.get(f"/v1/jobs/{trial['job_id']}").json()
        assert job["training"]["epochs"] == trial["params"]["training.epochs"] >= 10**19
    assert worker.run_once() is None


def test_the_params_plot_of_a_wide_space_shows_its_first_paths(client: TestClient) -> None:
    dataset = xor_dataset(client)
    fields = ["epochs", "lr_step_epochs", "lr_patience", "seed"]
    space = {f"training.{f}": {"type": "choice", "values": [1, 2]} for f in fields}
    sweep = create(client, body(dataset["id"], space=space, max_trials=1))
    for width in (200, 900):
        plot = client.get(f"/v1/sweeps/{sweep['id']}/plots/params.svg", params={"width": width})
        assert plot.status_code == 200, plot.text
    assert (
        "the first 1 of 4"
        in client.get(f"/v1/sweeps/{sweep['id']}/plots/params.svg", params={"width": 200}).text
    )
