"""End to end: the `backprop` console script against a real `backprop serve` (API + one
worker process) on a temporary SQLite file: train XOR with --follow, download weights."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.nn import Network
from tests.e2e.conftest import backprop

pytestmark = pytest.mark.e2e


def test_train_xor_follow_and_download_weights(served: dict[str, str], tmp_path: Path) -> None:
    generated = backprop(served, "datasets", "generate", "xor", "--n-samples", "200")
    assert generated.returncode == 0, generated.stderr
    dataset = json.loads(generated.stdout)

    run = backprop(
        served,
        "train",
        "--dataset",
        dataset["id"],
        "--sizes",
        "2,8,1",
        "--epochs",
        "150",
        "--learning-rate",
        "2",
        "--snapshot-every",
        "50",
        "--follow",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    first, *_, summary = run.stdout.strip().splitlines()
    job_id = first.split()[1]
    assert first == f"job {job_id} queued"
    assert summary.startswith(f"job {job_id} succeeded: epoch 150/150, loss ")
    accuracy = float(summary.split("accuracy ")[1].split(",")[0])
    assert accuracy >= 0.95, summary  # XOR is learnt
    # Progress came over the event stream: a line per tenth of the epochs (not a tty).
    assert " epoch 15/150, loss " in run.stderr and " epoch 150/150, loss " in run.stderr

    saved = backprop(served, "weights", job_id, "-o", str(tmp_path / "xor.npz"))
    assert saved.returncode == 0, saved.stderr
    net = Network.from_npz((tmp_path / "xor.npz").read_bytes())
    assert net.sizes == [2, 8, 1]
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    inputs = tmp_path / "corners.json"
    inputs.write_text(json.dumps({"inputs": corners.tolist()}))
    predicted = backprop(served, "predict", job_id, "--inputs", str(inputs))
    assert predicted.returncode == 0, predicted.stderr
    prediction = json.loads(predicted.stdout)
    np.testing.assert_allclose(prediction["outputs"], net.forward(corners))
    assert prediction["labels"] == ["0", "1", "1", "0"]  # the XOR truth table

    shown = backprop(served, "jobs", "show", job_id)
    assert json.loads(shown.stdout)["status"] == "succeeded"
    assert json.loads(shown.stdout)["training"]["snapshot_every"] == 50
    snapshot = backprop(served, "weights", job_id, "--epoch", "100", "-o", str(tmp_path / "s.npz"))
    assert snapshot.returncode == 0, snapshot.stderr
    assert "weights after epoch 100 of job" in snapshot.stdout
    kept = httpx.get(
        f"{served['BACKPROP_URL']}/v1/jobs/{job_id}/weights",
        params={"epoch": 100, "format": "npz"},
    )
    assert (tmp_path / "s.npz").read_bytes() == kept.content
    assert Network.from_npz(kept.content).to_document() != net.to_document()
    none = backprop(served, "weights", job_id, "--epoch", "120")
    assert none.returncode == 1 and "no weight snapshot at epoch 120" in none.stderr
    missing = backprop(served, "weights", "nope", "-o", str(tmp_path / "x.npz"))
    assert missing.returncode == 1
    assert missing.stderr == "error: GET /v1/jobs/nope/weights failed (404): job 'nope' not found\n"
