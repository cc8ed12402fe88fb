"""End to end: the real ``backprop serve`` trains XOR, serves its curve, weights and
predictions, cancels, survives a worker's SIGTERM, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.helpers import MAX_BODY, Server, start_server, wait_for, xor_dataset

pytestmark = pytest.mark.e2e

XOR_JOB = {
    "network": {"sizes": [2, 8, 1], "hidden_activation": "sigmoid",
                "output_activation": "sigmoid", "cost": "cross_entropy"},
    "training": {"epochs": 200, "batch_size": 10, "learning_rate": 2.0, "seed": 0},
}  # fmt: skip
LONG_JOB = {
    "network": {"sizes": [2, 64, 64, 1]},
    "training": {"epochs": 100000, "batch_size": 4, "learning_rate": 0.1, "seed": 0},
}


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def job_of(client: httpx.Client, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
    return data


def test_docs_pages_work_offline(module_server: Server) -> None:
    docs = module_server.client.get("/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr" not in docs.text
    assert module_server.client.get("/redoc").status_code == 200
    schema = module_server.client.get("/openapi.json").json()
    assert "/v1/jobs/{job_id}/predict" in schema["paths"]


def test_xor_trains_to_full_accuracy_and_serves_its_results(module_server: Server) -> None:
    client = module_server.client
    dataset = xor_dataset(client, n_samples=200, seed=3)
    response = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **XOR_JOB})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    job = wait_for(lambda: job_of(client, job_id), finished)
    assert job["status"] == "succeeded", job
    assert job["final_metrics"]["train_accuracy"] == 1.0

    curve = client.get(f"/v1/jobs/{job_id}/metrics").json()["items"]
    assert [row["epoch"] for row in curve] == list(range(1, 201))
    losses = [row["train_loss"] for row in curve]
    assert losses[-1] < 0.2 * losses[0]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])

    document = client.get(f"/v1/jobs/{job_id}/weights").json()
    data = client.get(f"/v1/datasets/{dataset['id']}/download").json()
    x, y = np.array(data["inputs"]), np.array(data["targets"])
    predicted = client.post(f"/v1/jobs/{job_id}/predict", json={"inputs": x.tolist()}).json()
    a = x
    for layer in document["layers"]:
        a = 1 / (1 + np.exp(-(a @ np.array(layer["weights"]).T + np.array(layer["biases"]))))
    np.testing.assert_allclose(predicted["outputs"], a, rtol=1e-12, atol=1e-12)
    labels = np.array([int(label) for label in predicted["labels"]])
    assert np.array_equal(labels, y[:, 0].astype(int))  # 100% on the training set


def test_cancel_stops_a_long_job_within_two_seconds(module_server: Server) -> None:
    client = module_server.client
    dataset = xor_dataset(client, n_samples=400, seed=3)
    job_id = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **LONG_JOB}).json()["id"]
    running = wait_for(lambda: job_of(client, job_id), lambda j: j["progress"]["epoch"] >= 1)
    assert running["status"] == "running" and running["started_at"] is not None
    assert running["progress"]["eta_seconds"] > 0  # mean epoch time x epochs left
    asked = time.monotonic()
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    job = wait_for(lambda: job_of(client, job_id), finished, timeout=10)
    assert time.monotonic() - asked < 2.0
    assert job["status"] == "cancelled"
    assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 409


def test_bad_input_over_http_is_refused_and_nothing_is_stored(module_server: Server) -> None:
    client = module_server.client
    before = client.get("/v1/datasets").json()["total"]
    ragged = client.post(
        "/v1/datasets", json={"name": "r", "inputs": [[0, 1], [2]], "labels": [0, 1]}
    )
    assert ragged.status_code == 422
    missing = client.post("/v1/jobs", json={"dataset_id": "nope", **XOR_JOB})
    assert missing.status_code == 404
    assert client.get("/v1/datasets").json()["total"] == before


def test_oversized_bodies_get_413_over_http(module_server: Server) -> None:
    client = module_server.client
    before = client.get("/v1/datasets").json()["total"]
    body = b'{"name": "big", "inputs": [' + b"[0.5, 0.5]," * (MAX_BODY // 10) + b"[0, 0]]}"
    declared = client.post(
        "/v1/datasets", content=body, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    expected = {"detail": f"request body is larger than the limit of {MAX_BODY} bytes"}
    assert declared.json() == expected

    def chunks() -> Any:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = client.post(
        "/v1/datasets", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json() == expected
    assert client.get("/v1/datasets").json()["total"] == before


def test_a_sigtermed_worker_exits_0_and_the_job_finishes_identically(
    tmp_path: Path, database_url: str
) -> None:
    server = start_server(tmp_path, workers=0, database_url=database_url)
    client = server.client
    try:
        dataset = xor_dataset(client, n_samples=400, seed=3)
        spec = {
            "dataset_id": dataset["id"],
            "network": {"sizes": [2, 32, 1]},
            "training": {"epochs": 40, "batch_size": 4, "learning_rate": 0.5, "seed": 5},
        }
        reference = client.post("/v1/jobs", json=spec).json()["id"]
        job_id = client.post("/v1/jobs", json=spec).json()["id"]

        def worker() -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, "-m", "worker"], env=server.env)

        first = worker()
        wait_for(lambda: job_of(client, reference), finished)
        wait_for(lambda: job_of(client, job_id), lambda j: j["progress"]["epoch"] >= 3)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=10) == 0
        handed_back = job_of(client, job_id)
        assert handed_back["status"] == "queued", handed_back
        assert 3 <= handed_back["progress"]["epoch"] < 40

        second = worker()
        job = wait_for(lambda: job_of(client, job_id), finished)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0
        assert job["status"] == "succeeded", job
        curve = client.get(f"/v1/jobs/{job_id}/metrics").json()["items"]
        assert [row["epoch"] for row in curve] == list(range(1, 41))
        mine = client.get(f"/v1/jobs/{job_id}/weights").json()
        theirs = client.get(f"/v1/jobs/{reference}/weights").json()
        assert mine == theirs
    finally:
        client.close()
        assert server.stop() == 0


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = start_server(tmp_path, workers=2)
    server.client.close()
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 10
    log = server.log.read_text()
    assert "Traceback" not in log and "serve: stopped" in log
    pids = [int(p) for p in log.split("serve: child pids ")[1].split("\n")[0].split()]
    assert len(pids) == 3  # uvicorn + 2 workers
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"child {pid} still running"


def test_serve_restarts_a_killed_worker_and_its_job_still_finishes(tmp_path: Path) -> None:
    server = start_server(tmp_path, workers=1, BACKPROP_LEASE_SECONDS="1.5")
    client = server.client
    try:
        dataset = xor_dataset(client, n_samples=400, seed=3)
        spec = {
            "dataset_id": dataset["id"],
            "network": {"sizes": [2, 32, 1]},
            "training": {"epochs": 60, "batch_size": 4, "learning_rate": 0.5, "seed": 5},
        }
        job_id = client.post("/v1/jobs", json=spec).json()["id"]
        wait_for(lambda: job_of(client, job_id), lambda j: j["progress"]["epoch"] >= 2)
        log = server.log.read_text()
        worker_pid = int(log.split("serve: child pids ")[1].split("\n")[0].split()[1])
        os.kill(worker_pid, signal.SIGKILL)
        wait_for(server.log.read_text, lambda text: f"worker {worker_pid} exited" in text)
        job = wait_for(lambda: job_of(client, job_id), finished)
        assert job["status"] == "succeeded" and job["attempts"] == 2, job
        curve = client.get(f"/v1/jobs/{job_id}/metrics").json()["items"]
        assert [row["epoch"] for row in curve] == list(range(1, 61))
    finally:
        client.close()
        assert server.stop() == 0
