"""Saturated outputs through the REST surface: ``POST /v1/backprop`` (in both dtypes) and a
training job, for every output activation x cost pair the service accepts.

The network, its weights and the exact values are those of ``tests/nn/test_saturation.py``
(logits up to ±50, exact references in 200-digit decimal arithmetic).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.nn.test_saturation import PARAMS, X, _assert_exact, _case, _exact


@pytest.mark.parametrize(("act", "cost", "k", "which", "dtype"), PARAMS)
def test_backprop_endpoint_is_exact_at_saturation(
    shared_client: TestClient, act: str, cost: str, k: int, which: str, dtype: str
) -> None:
    exact = _exact(act, cost, k, which)
    case, ys = _case(act, cost, k, which)
    body = {
        "network": {
            "sizes": [2, 2, k],
            "hidden_activation": "relu",
            "output_activation": act,
            "cost": cost,
        },
        "weights": case["layers"],
        "inputs": X,
        "targets": ys,
        "dtype": dtype,
    }
    response = shared_client.post("/v1/backprop", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    assert got["dtype"] == dtype
    _assert_exact(got["cost"], exact["cost"], dtype, "cost")
    for layer, trace in enumerate(got["layers"]):
        _assert_exact(trace["delta"], [d[layer] for d in exact["deltas"]], dtype, "δ")
        _assert_exact(trace["grad_weights"], exact["grad_w"][layer], dtype, "∂C/∂W")
        _assert_exact(trace["grad_biases"], exact["grad_b"][layer], dtype, "∂C/∂b")
    assert got["gradient_check"]["max_rel_error"] < 1e-5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("act", "cost"),
    [("softmax", "cross_entropy"), ("sigmoid", "cross_entropy"), ("softmax", "log_likelihood")],
)
def test_a_job_starting_saturated_trains_instead_of_diverging(
    client: TestClient, worker: Any, act: str, cost: str, dtype: str
) -> None:
    """Initial weights that already classify every sample with logits of ±30: the losses
    are tiny and finite, the job succeeds (it used to fail: "training diverged")."""
    k = 2
    x = np.array([[1.0, 0.0], [0.0, 1.0]] * 4)
    labels = [0, 1] * 4
    dataset = client.post(
        "/v1/datasets", json={"name": "sat", "inputs": x.tolist(), "labels": labels}
    ).json()
    out_w = [[30.0, -30.0], [-30.0, 30.0]] if act == "softmax" else [[-30.0, 30.0]]
    layers = [
        {"weights": [[1.0, 0.0], [0.0, 1.0]], "biases": [0.0, 0.0]},
        {"weights": out_w, "biases": [0.0] * len(out_w)},
    ]
    sizes = [2, 2, k if act == "softmax" else 1]
    if act != "softmax":  # one 0/1 output: a dataset of targets instead of labels
        dataset = client.post(
            "/v1/datasets",
            json={"name": "sat", "inputs": x.tolist(), "targets": [[v] for v in labels]},
        ).json()
    job = client.post(
        "/v1/jobs",
        json={
            "dataset_id": dataset["id"],
            "network": {
                "sizes": sizes,
                "hidden_activation": "identity",
                "output_activation": act,
                "cost": cost,
            },  # fmt: skip
            "training": {"epochs": 3, "batch_size": 4, "learning_rate": 0.5, "dtype": dtype},
            "initial_weights": layers,
        },
    )
    assert job.status_code == 202, job.text
    assert worker.run_once() == job.json()["id"]
    done = client.get(f"/v1/jobs/{job.json()['id']}").json()
    assert done["status"] == "succeeded", done["error"]
    metrics = client.get(f"/v1/jobs/{job.json()['id']}/metrics").json()["items"]
    assert all(0 <= m["train_loss"] < 1e-9 for m in metrics)
    assert all(m["train_accuracy"] == 1.0 for m in metrics)
