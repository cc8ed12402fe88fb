"""End to end: sweeps through the real ``backprop serve`` (uvicorn + 2 worker processes) on
SQLite and PostgreSQL, over HTTP: a grid runs each point once, a successive-halving sweep
prunes, and the CLI creates, follows and shows a sweep."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import serve_for_module
from tests.helpers import BACKENDS, BACKPROP, Server, wait_for

pytestmark = pytest.mark.e2e

LR = {"type": "choice", "values": [0.5, 2.0, 4.0]}
SIZES = {"type": "choice", "values": [[2, 4, 1], [2, 8, 1]]}


@pytest.fixture(scope="module", params=BACKENDS)
def two_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``backprop serve --workers 2`` shared by this module (SQLite, then PostgreSQL)."""
    yield from serve_for_module(request, tmp_path_factory, workers=2)


@pytest.fixture(scope="module")
def dataset(two_workers: Server) -> dict[str, Any]:
    body = {"kind": "xor", "n_samples": 80, "noise": 0.05, "seed": 2, "name": "xor-sweeps"}
    response = two_workers.client.post("/v1/datasets/generate", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def sweep_body(dataset: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "e2e",
        "dataset_id": dataset["id"],
        "network": {"sizes": [2, 8, 1]},
        "training": {"epochs": 12, "batch_size": 8, "learning_rate": 2.0,
                     "validation_fraction": 0.25, "seed": 0},
        "space": {"training.learning_rate": LR, "network.sizes": SIZES},
        "sampler": {"kind": "grid", "seed": 0},
        "objective": {"metric": "validation_loss", "direction": "minimize"},
        "parallelism": 2,
    }  # fmt: skip
    body.update(overrides)
    return body


def finished(client: httpx.Client, sweep_id: str, timeout: float = 120) -> dict[str, Any]:
    def get() -> dict[str, Any]:
        data: dict[str, Any] = client.get(f"/v1/sweeps/{sweep_id}").json()
        return data

    return wait_for(  # type: ignore[no-any-return]
        get,
        lambda s: s["finished_at"] is not None,
        timeout=timeout,
        what=f"sweep {sweep_id} to finish",
        interval=0.2,
    )


def test_a_grid_sweep_runs_each_point_once_on_two_workers(
    two_workers: Server, dataset: dict[str, Any]
) -> None:
    client = two_workers.client
    response = client.post("/v1/sweeps", json=sweep_body(dataset))
    assert response.status_code == 202, response.text
    sweep = finished(client, response.json()["id"])
    assert sweep["status"] == "succeeded" and sweep["counts"] == {"succeeded": 6}, sweep
    trials = client.get(f"/v1/sweeps/{sweep['id']}/trials").json()["items"]
    points = sorted((t["params"]["training.learning_rate"], t["params"]["network.sizes"])
                    for t in trials)  # fmt: skip
    assert points == sorted((lr, s) for lr in LR["values"] for s in SIZES["values"])
    jobs = client.get("/v1/jobs", params={"limit": 1000}).json()["items"]
    mine = [j for j in jobs if j["sweep_id"] == sweep["id"]]
    assert sorted(j["trial"] for j in mine) == list(range(6))  # one job per trial
    assert all(j["attempts"] == 1 for j in mine)
    best = min(trials, key=lambda t: (t["value"], t["number"]))
    assert sweep["best"]["job_id"] == best["job_id"]
    job = client.get(f"/v1/jobs/{best['job_id']}").json()
    assert job["training"]["learning_rate"] == best["params"]["training.learning_rate"]
    for name in ("trials.png", "params.png"):
        plot = client.get(f"/v1/sweeps/{sweep['id']}/plots/{name}")
        assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")


def test_successive_halving_prunes_and_pruned_jobs_are_listed(
    two_workers: Server, dataset: dict[str, Any]
) -> None:
    client = two_workers.client
    lr = {"type": "choice", "values": [2.0, 0.002, 0.001, 0.0005, 0.0002, 0.0001]}
    body = sweep_body(
        dataset,
        space={"training.learning_rate": lr},
        sampler={"kind": "grid", "seed": 8},
        pruner={"kind": "successive_halving", "min_resource": 2, "reduction_factor": 2},
    )
    response = client.post("/v1/sweeps", json=body)
    assert response.status_code == 202, response.text
    sweep = finished(client, response.json()["id"])
    assert sweep["status"] == "succeeded", sweep
    trials = client.get(f"/v1/sweeps/{sweep['id']}/trials").json()["items"]
    # Seed 8 orders the grid [2.0, 0.001, 0.0001, 0.002, 0.0002, 0.0005]: trials 2, 4 and 5
    # reach the first rung (epoch 2) after the 2.0 trial has, and lose to it there.
    pruned = [t for t in trials if t["status"] == "pruned"]
    assert trials[0]["params"]["training.learning_rate"] == 2.0
    assert {2, 4, 5} <= {t["number"] for t in pruned}, trials
    listed = client.get("/v1/jobs", params={"status": "pruned", "limit": 1000}).json()["items"]
    assert {t["job_id"] for t in pruned} <= {j["id"] for j in listed}
    for t in pruned:
        assert t["epochs"] == t["pruned_epoch"] < 12
        curve = client.get(f"/v1/jobs/{t['job_id']}/metrics").json()["items"]
        assert len(curve) == t["epochs"]
        assert client.get(f"/v1/jobs/{t['job_id']}/weights").status_code == 200
    assert sum(t["epochs"] for t in trials) < 6 * 12


def test_the_cli_creates_follows_and_shows_a_sweep(
    two_workers: Server, dataset: dict[str, Any], tmp_path: Path
) -> None:
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps(sweep_body(dataset, name="from-the-cli")))
    env = {**os.environ, "BACKPROP_URL": str(two_workers.client.base_url)}
    done = subprocess.run(
        [BACKPROP, "sweep", "create", "--spec", str(spec), "--follow"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["RANK", "TRIAL", "STATUS", "VALUE", "EPOCHS", "PARAMS", "JOB"]
    assert len(lines) == 1 + 6 + 1  # header, six trials, the summary
    assert lines[1].split()[:3] == ["1", lines[1].split()[1], "succeeded"]
    assert "succeeded: 6 succeeded of 6; best trial" in lines[-1]
    assert done.stderr.count("succeeded after 12 epochs") == 6  # one line per ended trial
    sweep_id = lines[-1].split()[1]
    shown = subprocess.run([BACKPROP, "sweep", "show", sweep_id], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0 and shown.stdout.splitlines()[1:7] == lines[1:7]
    refused = subprocess.run([BACKPROP, "sweep", "cancel", sweep_id], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (
        refused.returncode == 1
        and "(409)" in refused.stderr
        and "already succeeded" in (refused.stderr)
    )
