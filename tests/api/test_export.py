"""``GET /v1/jobs/{id}/model.onnx``: the exported model passes ``onnx.checker`` and, run by
onnxruntime, gives what ``POST /v1/jobs/{id}/predict`` gives, for every hidden × output
activation the service accepts, in float32 and float64: outputs within 1e-5 / 1e-9, and
the same labels wherever the outputs decide them (near-ties, outputs closer than that
tolerance, e.g. two saturated tanh units both at 1.0, may go either way: a last-bit
difference decides them; benchmarks/onnx_parity.py counts them)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_head
from app.nn.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from tests.helpers import Driver, make_settings
from worker.runner import Worker

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}
#: (dataset kind, outputs, task): softmax needs several outputs; the others are also
#: tried with one output, whose label is ``output >= 0.5``.
DATASETS = {
    "blobs": {"kind": "blobs", "n_samples": 60, "n_classes": 3, "seed": 2},
    "xor": {"kind": "xor", "n_samples": 60, "seed": 2},
    "sine": {"kind": "sine", "n_samples": 60, "seed": 2},
}
CASES = [
    (hidden, output, data, dtype)
    for hidden, output in itertools.product(HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS)
    for data in (("blobs",) if output == "softmax" else ("blobs", "xor"))
    for dtype in ("float32", "float64")
] + [("tanh", "identity", "sine", dtype) for dtype in ("float32", "float64")]


class App:
    def __init__(self, settings: Settings, client: TestClient) -> None:
        self.settings = settings
        self.client = client
        self.datasets = {
            name: self.post("/v1/datasets/generate", 201, json=body)
            for name, body in DATASETS.items()
        }

    def post(self, path: str, status: int, **kwargs: Any) -> Any:
        response = self.client.post(path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def trained(self, network: dict[str, Any], training: dict[str, Any], data: str) -> str:
        """A job trained by the real worker (a few epochs)."""
        body = {"dataset_id": self.datasets[data]["id"], "network": network, "training": training}
        job = self.post("/v1/jobs", 202, json=body)
        worker = Worker(self.settings, owner="export-test")
        try:
            assert worker.run_once() == job["id"]
        finally:
            worker.close()
        done = self.client.get(f"/v1/jobs/{job['id']}").json()
        assert done["status"] == "succeeded", done
        return str(job["id"])

    def onnx(self, job_id: str) -> bytes:
        response = self.client.get(f"/v1/jobs/{job_id}/model.onnx")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        return response.content


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    settings = make_settings(tmp_path_factory.mktemp("export") / "backprop.db")
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        yield App(settings, client)


def run(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"inputs": x})  # type: ignore[no-any-return]


def margins(outputs: np.ndarray) -> np.ndarray:
    """Per row, how far the outputs are from giving another label: the gap between the
    two largest outputs, or between the one output and the 0.5 threshold."""
    if outputs.shape[1] == 1:
        return np.abs(outputs[:, 0] - 0.5)  # type: ignore[no-any-return]
    top = np.sort(outputs, axis=1)
    return top[:, -1] - top[:, -2]  # type: ignore[no-any-return]


def tied_classes(row: np.ndarray, tolerance: float) -> list[int]:
    """The labels within ``tolerance`` of winning, as indices into the class names."""
    if row.shape[0] == 1:
        return [0, 1]
    return [int(i) for i in np.flatnonzero(row >= row.max() - tolerance)]


def spec_for(hidden: str, output: str, n_in: int, n_out: int) -> dict[str, Any]:
    cost = "log_likelihood" if output == "softmax" else "quadratic"
    # "large" (N(0, 1)) weights: outputs spread over the activations' whole range.
    return {
        "sizes": [n_in, 6, 5, n_out],
        "hidden_activation": hidden,
        "output_activation": output,
        "cost": cost,
        "init": "large",
    }


@pytest.mark.parametrize(("hidden", "output", "data", "dtype"), CASES)
def test_onnxruntime_gives_what_predict_gives(
    app: App, hidden: str, output: str, data: str, dtype: str
) -> None:
    dataset = app.datasets[data]
    network = spec_for(hidden, output, dataset["n_features"], dataset["n_outputs"])
    training = {"epochs": 2, "batch_size": 10, "learning_rate": 0.01, "dtype": dtype}
    job_id = app.trained(network, training, data)
    model = app.onnx(job_id)
    onnx.checker.check_model(onnx.load_from_string(model), full_check=True)

    rows = np.random.default_rng(7).normal(size=(200, dataset["n_features"])) * 2
    x = rows.astype(dtype)
    results = run(model, x)
    predicted = app.post(f"/v1/jobs/{job_id}/predict", 200, json={"inputs": x.tolist()})
    outputs = results[0]
    assert outputs.dtype == np.dtype(dtype)
    assert outputs.shape == (200, dataset["n_outputs"])
    expected = np.array(predicted["outputs"])
    assert np.abs(outputs - expected).max() <= TOLERANCE[dtype]
    if dataset["task"] == "classification":
        assert len(results) == 2
        labels, expected_labels = np.array(results[1]), np.array(predicted["labels"])
        decided = margins(expected) > TOLERANCE[dtype]
        assert decided.sum() >= 40  # the check has teeth: many rows are decided
        assert (labels[decided] == expected_labels[decided]).all()
        # Where both give the very same numbers, exact ties included (dead relu units all
        # at 0), they break them the same way: the first class, as numpy's argmax.
        same = (outputs.astype(np.float64) == expected).all(axis=1)
        assert (labels[same] == expected_labels[same]).all()
        # A near-tie's label is one of the tied classes.
        names = dataset["classes"]
        for row in np.flatnonzero(~decided):
            tied = tied_classes(expected[row], TOLERANCE[dtype])
            assert labels[row] in [names[i] for i in tied]
    else:
        assert len(results) == 1
        assert predicted["labels"] is None


def test_the_model_describes_itself(app: App) -> None:
    network = spec_for("relu", "softmax", 2, 3)
    training = {"epochs": 3, "batch_size": 10, "learning_rate": 0.05, "dtype": "float32"}
    job_id = app.trained(network, training, "blobs")
    model = onnx.load_from_string(app.onnx(job_id))
    assert [o.domain for o in model.opset_import] == [""]
    assert model.opset_import[0].version == 17
    assert model.ir_version == 8
    graph = model.graph
    assert [n.op_type for n in graph.node][:6] == [
        "Gemm",
        "Relu",
        "Gemm",
        "Relu",
        "Gemm",
        "Softmax",
    ]
    (inputs,) = graph.input
    assert inputs.name == "inputs"
    assert inputs.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = [d.dim_param or d.dim_value for d in inputs.type.tensor_type.shape.dim]
    assert dims == ["N", 2]
    assert [o.name for o in graph.output] == ["outputs", "labels"]
    props = {p.key: p.value for p in model.metadata_props}
    job = app.client.get(f"/v1/jobs/{job_id}").json()
    assert props["backprop.job_id"] == job_id
    assert props["backprop.dataset_sha256"] == app.datasets["blobs"]["sha256"]
    assert json.loads(props["backprop.network"]) == job["network"]
    assert json.loads(props["backprop.final_metrics"]) == job["final_metrics"]
    assert json.loads(props["backprop.classes"]) == ["0", "1", "2"]


def test_class_names_come_back_as_labels(app: App, tmp_path: Path) -> None:
    """Named classes (a dataset of string labels) are the model's labels, as predict's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    labels = ["cat" if a > 0 else "dog" for a in x[:, 0]]
    dataset = app.post(
        "/v1/datasets", 201, json={"name": "pets", "inputs": x.tolist(), "labels": labels}
    )
    app.datasets["pets"] = dataset
    network = spec_for("tanh", "softmax", 2, dataset["n_outputs"])
    job_id = app.trained(network, {"epochs": 5, "batch_size": 10, "learning_rate": 0.5}, "pets")
    outputs, names = run(app.onnx(job_id), x)
    predicted = app.post(f"/v1/jobs/{job_id}/predict", 200, json={"inputs": x.tolist()})
    assert list(names) == predicted["labels"]
    assert set(names) <= {"cat", "dog"}
    np.testing.assert_allclose(outputs, predicted["outputs"], rtol=0, atol=1e-9)


def test_export_refuses_a_job_without_weights(app: App) -> None:
    missing = app.client.get("/v1/jobs/nope/model.onnx")
    assert (missing.status_code, missing.json()) == (404, {"detail": "job 'nope' not found"})

    body = {"dataset_id": app.datasets["xor"]["id"], "network": {"sizes": [2, 3, 1]}}
    queued = app.post("/v1/jobs", 202, json=body)["id"]
    early = app.client.get(f"/v1/jobs/{queued}/model.onnx")
    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"job {queued!r} is queued and has no weights yet; export it once it has finished"
    )
    driver = Driver(app.settings)
    try:
        lease = driver.claim()
        assert lease.job_id == queued
        running = app.client.get(f"/v1/jobs/{queued}/model.onnx")
        assert running.status_code == 409
        assert "is running and has no weights yet" in running.json()["detail"]
        driver.finish(lease, "failed", error="training diverged at epoch 3: train loss is inf")
    finally:
        driver.close()
    failed = app.client.get(f"/v1/jobs/{queued}/model.onnx")
    assert failed.status_code == 409
    assert failed.json()["detail"] == (
        f"job {queued!r} failed without weights (training diverged at epoch 3: train loss is "
        "inf); nothing to export"
    )
