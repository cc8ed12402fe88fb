"""End to end: `backprop export`, `train --from-job`, `lineage`, `receipt` and
`replay --follow` against a real `backprop serve` (API + one worker process)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.e2e.conftest import backprop

pytestmark = pytest.mark.e2e


def test_export_continue_lineage_receipt_and_replay(served: dict[str, str], tmp_path: Path) -> None:
    generated = backprop(served, "datasets", "generate", "moons", "--n-samples", "200")
    assert generated.returncode == 0, generated.stderr
    dataset = json.loads(generated.stdout)
    run = backprop(
        served, "train", "--dataset", dataset["id"], "--sizes", "2,10,1", "--epochs", "10",
        "--optimizer", "adam", "--learning-rate", "0.02", "--follow",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    parent = run.stdout.splitlines()[0].split()[1]

    model = tmp_path / "model.onnx"
    exported = backprop(served, "export", parent, "-o", str(model))
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"wrote the ONNX model of job {parent} (")
    x = np.random.default_rng(3).normal(size=(25, 2))
    outputs, labels = ort.InferenceSession(str(model)).run(None, {"inputs": x})
    inputs = tmp_path / "x.json"
    inputs.write_text(json.dumps(x.tolist()))
    predicted = json.loads(backprop(served, "predict", parent, "--inputs", str(inputs)).stdout)
    np.testing.assert_allclose(outputs, predicted["outputs"], rtol=0, atol=1e-9)
    assert list(labels) == predicted["labels"]

    continued = backprop(served, "train", "--from-job", parent, "--epochs", "16", "--follow")
    assert continued.returncode == 0, continued.stdout + continued.stderr
    child = continued.stdout.splitlines()[0].split()[1]
    assert continued.stdout.splitlines()[-1].startswith(f"job {child} succeeded: epoch 16/16")

    lineage = backprop(served, "lineage", child)
    assert lineage.returncode == 0, lineage.stderr
    header, first, second = lineage.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "EPOCHS", "FROM", "PARENT", "CREATED"]
    assert first.split()[:5] == [child, "succeeded", "16", "continue", parent]
    assert second.split()[:5] == [parent, "succeeded", "10", "-", "-"]

    receipt = json.loads(backprop(served, "receipt", child).stdout)
    assert receipt["inputs"]["parent_id"] == parent
    assert receipt["inputs"]["dataset_sha256"] == dataset["sha256"]

    replayed = backprop(served, "replay", child, "--follow")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[-1] == (
        f"replay of {child}: MATCHES bit for bit (weights and every metric row)"
    )

    missing = backprop(served, "export", "nope", "-o", str(model))
    assert missing.returncode == 1
    assert missing.stderr == (
        "error: GET /v1/jobs/nope/model.onnx failed (404): job 'nope' not found\n"
    )
    unfinished = backprop(served, "replay", "nope")
    assert unfinished.returncode == 1
