"""How closely an exported ONNX model, run by onnxruntime, follows ``/predict``.

    python benchmarks/onnx_parity.py [--rows 2000] [--epochs 5]

For every hidden × output activation the service accepts (softmax only with several
outputs; the others with 3 outputs and with 1), in float32 and float64, plus a
regression: trains an n-6-5-n network (init "large", so the activations use their whole
range) with the real worker on a temporary SQLite file, exports it through the API
(``GET /v1/jobs/{id}/model.onnx``), runs it with onnxruntime on ``--rows`` random
inputs and compares with ``POST /v1/jobs/{id}/predict`` on the same inputs.

Prints, per case: max |outputs − predict|; how many rows are near-ties (the two top
outputs, or the one output and 0.5, closer than the dtype's tolerance: 1e-5 float32,
1e-9 float64), where a last-bit difference in an output can flip a label; how many rows'
labels differ, and how many of those are not near-ties (must be 0).
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_head
from app.nn.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from worker.runner import Worker

TOLERANCE = {"float32": 1e-5, "float64": 1e-9}
DATASETS = {
    "3 classes": {"kind": "blobs", "n_samples": 200, "n_classes": 3, "seed": 2},
    "1 output": {"kind": "xor", "n_samples": 200, "seed": 2},
    "regression": {"kind": "sine", "n_samples": 200, "seed": 2},
}


def margins(outputs: np.ndarray) -> np.ndarray:
    """How far each row is from a different label: top-two gap, or |output − 0.5|."""
    if outputs.shape[1] == 1:
        return np.abs(outputs[:, 0] - 0.5)  # type: ignore[no-any-return]
    top = np.sort(outputs, axis=1)
    return top[:, -1] - top[:, -2]  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="onnx-parity-"))
    settings = Settings(database_url=f"sqlite:///{tmp / 'parity.db'}", checkpoint_seconds=3600)
    upgrade_head(settings)
    cases = [
        (hidden, output, data, dtype)
        for hidden, output in itertools.product(HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS)
        for data in (("3 classes",) if output == "softmax" else ("3 classes", "1 output"))
        for dtype in ("float32", "float64")
    ] + [("tanh", "identity", "regression", dtype) for dtype in ("float32", "float64")]
    worker = Worker(settings, owner="parity")
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rows} rows per case")
    print(f"{'hidden':9} {'output':9} {'data':11} {'dtype':8} {'max |diff|':>11} "
          f"{'near-ties':>9} {'labels differ':>13} {'not at a tie':>12}")  # fmt: skip
    worst = {"float32": 0.0, "float64": 0.0}
    with TestClient(create_app(settings)) as client:
        ids = {
            name: client.post("/v1/datasets/generate", json=body).json()
            for name, body in DATASETS.items()
        }
        rng = np.random.default_rng(7)
        for hidden, output, data, dtype in cases:
            dataset = ids[data]
            body: dict[str, Any] = {
                "dataset_id": dataset["id"],
                "network": {
                    "sizes": [dataset["n_features"], 6, 5, dataset["n_outputs"]],
                    "hidden_activation": hidden,
                    "output_activation": output,
                    "cost": "log_likelihood" if output == "softmax" else "quadratic",
                    "init": "large",
                },
                "training": {
                    "epochs": args.epochs,
                    "batch_size": 10,
                    "learning_rate": 0.01,
                    "dtype": dtype,
                },
            }
            job = client.post("/v1/jobs", json=body).json()
            assert worker.run_once() == job["id"]
            status = client.get(f"/v1/jobs/{job['id']}").json()["status"]
            assert status == "succeeded", (hidden, output, data, dtype, status)
            model = client.get(f"/v1/jobs/{job['id']}/model.onnx").content
            x = (rng.normal(size=(args.rows, dataset["n_features"])) * 2).astype(dtype)
            session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            results = session.run(None, {"inputs": x})
            predicted = client.post(f"/v1/jobs/{job['id']}/predict", json={"inputs": x.tolist()})
            expected = np.array(predicted.json()["outputs"])
            diff = float(np.abs(results[0] - expected).max())
            worst[dtype] = max(worst[dtype], diff)
            if dataset["task"] == "classification":
                differ = np.array(results[1]) != np.array(predicted.json()["labels"])
                tie = margins(expected) <= TOLERANCE[dtype]
                outside = int(np.sum(differ & ~tie))
                labels = f"{int(tie.sum()):>9} {int(differ.sum()):>13} {outside:>12}"
            else:
                labels = f"{'-':>9} {'-':>13} {'-':>12}"
            print(f"{hidden:9} {output:9} {data:11} {dtype:8} {diff:11.3g} {labels}")
    worker.close()
    print(f"worst max |diff|: float32 {worst['float32']:.3g}, float64 {worst['float64']:.3g}")


if __name__ == "__main__":
    main()
