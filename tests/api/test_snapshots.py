"""Weight snapshots (``training.snapshot_every``): trained by the real worker, served by
``/weights?epoch=k`` and the decision boundary ``?epoch=k``, bounded at submit, deleted
with their job; and ``POST /v1/datasets/preview`` (the playground's dataset preview)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import WeightSnapshot
from tests.helpers import counts, xor_dataset
from worker.runner import Worker

NETWORK = {"sizes": [2, 6, 1], "hidden_activation": "tanh"}


def submit(client: TestClient, dataset_id: str, **training: Any) -> dict[str, Any]:
    body = {
        "dataset_id": dataset_id,
        "network": NETWORK,
        "training": {"batch_size": 4, "learning_rate": 0.5, "seed": 3, **training},
    }
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def arrays(npz: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(npz), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def snapshot_epochs(session: Session, job_id: str) -> list[int]:
    session.expire_all()
    stmt = select(WeightSnapshot.epoch).where(WeightSnapshot.job_id == job_id)
    return sorted(session.scalars(stmt).all())


def test_snapshots_hold_the_weights_after_their_epoch(
    client: TestClient, worker: Worker, session: Session
) -> None:
    dataset = xor_dataset(client)
    job = submit(client, dataset["id"], epochs=7, snapshot_every=2)
    # The same run stopped after 4 epochs: its final weights are the snapshot of epoch 4.
    four = submit(client, dataset["id"], epochs=4)
    assert job["training"]["snapshot_every"] == 2 and four["training"]["snapshot_every"] is None
    assert worker.run_once() == job["id"]
    assert worker.run_once() == four["id"]
    assert snapshot_epochs(session, job["id"]) == [2, 4, 6]
    assert snapshot_epochs(session, four["id"]) == []

    base = f"/v1/jobs/{job['id']}"
    npz = client.get(f"{base}/weights", params={"epoch": 4, "format": "npz"})
    assert npz.status_code == 200
    assert npz.headers["content-disposition"].endswith(f'weights-{job["id"]}-epoch4.npz"')
    reference = client.get(f"/v1/jobs/{four['id']}/weights", params={"format": "npz"})
    mine, theirs = arrays(npz.content), arrays(reference.content)
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert mine[name].tobytes() == theirs[name].tobytes(), name
    document = client.get(f"{base}/weights", params={"epoch": 4}).json()
    assert document == client.get(f"/v1/jobs/{four['id']}/weights").json()
    assert document != client.get(f"{base}/weights", params={"epoch": 6}).json()
    final_weights = client.get(f"{base}/weights").json()  # epoch 7's
    assert final_weights != client.get(f"{base}/weights", params={"epoch": 6}).json()

    missing = client.get(f"{base}/weights", params={"epoch": 3})
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        f"job {job['id']!r} has no weight snapshot at epoch 3: it keeps one every 2 epochs "
        "(snapshots so far: epochs 2 to 6)"
    )
    none_kept = client.get(f"/v1/jobs/{four['id']}/weights", params={"epoch": 2})
    assert none_kept.status_code == 404
    assert (
        "keeps no weight snapshots (its training.snapshot_every is null)"
        in (none_kept.json()["detail"])
    )
    assert client.get(f"{base}/weights", params={"epoch": 0}).status_code == 422
    assert client.get("/v1/jobs/nope/weights", params={"epoch": 2}).status_code == 404

    grids = {
        epoch: client.get(
            f"{base}/plots/decision-boundary.json", params={"epoch": epoch, "resolution": 12}
        )
        for epoch in (2, 6)
    }
    assert all(r.status_code == 200 for r in grids.values())
    assert [grids[e].json()["epoch"] for e in (2, 6)] == [2, 6]
    assert grids[2].json()["outputs"] != grids[6].json()["outputs"]
    final = client.get(f"{base}/plots/decision-boundary.json", params={"resolution": 12}).json()
    assert final["epoch"] == 7 and final["outputs"] != grids[6].json()["outputs"]
    png = client.get(f"{base}/plots/decision-boundary.png", params={"epoch": 2, "width": 300})
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    gone = client.get(f"{base}/plots/decision-boundary.json", params={"epoch": 5})
    assert gone.status_code == 404 and "no weight snapshot at epoch 5" in gone.json()["detail"]

    assert client.delete(base).status_code == 204
    assert snapshot_epochs(session, job["id"]) == []


def test_snapshot_every_is_checked_and_bounded_at_submit(
    client: TestClient, session: Session
) -> None:
    dataset = xor_dataset(client)
    before = counts(session)
    body = {"dataset_id": dataset["id"], "network": NETWORK}
    zero = client.post("/v1/jobs", json={**body, "training": {"snapshot_every": 0}})
    assert zero.status_code == 422
    assert zero.json()["detail"].startswith("training.snapshot_every: ")
    many = client.post("/v1/jobs", json={**body, "training": {"epochs": 5000, "snapshot_every": 2}})
    assert many.status_code == 422
    assert many.json()["detail"] == (
        "training.snapshot_every: 2 keeps 2,500 snapshots of 5,000 epochs; the limit is "
        "1,000 (BACKPROP_MAX_SNAPSHOTS); use snapshot_every >= 5"
    )
    assert counts(session) == before
    fits = client.post("/v1/jobs", json={**body, "training": {"epochs": 5000, "snapshot_every": 5}})
    assert fits.status_code == 202, fits.text


def test_preview_is_the_generated_dataset_and_stores_nothing(
    client: TestClient, session: Session
) -> None:
    body = {"kind": "spirals", "n_samples": 90, "noise": 0.2, "seed": 4}
    before = counts(session)
    preview = client.post("/v1/datasets/preview", json=body)
    assert preview.status_code == 200, preview.text
    assert counts(session) == before
    shown = preview.json()
    assert (shown["task"], shown["n_samples"], shown["n_features"], shown["n_outputs"]) == (
        "classification",
        90,
        2,
        3,
    )
    stored = xor_dataset(client, **body)
    download = client.get(f"/v1/datasets/{stored['id']}/download").json()
    assert shown["inputs"] == download["inputs"] and shown["targets"] == download["targets"]
    assert shown["classes"] == ["0", "1", "2"]
    assert shown["labels"] == [i % 3 for i in range(90)]  # classes are interleaved

    regression = client.post("/v1/datasets/preview", json={"kind": "sine", "n_samples": 10})
    assert regression.json()["task"] == "regression" and regression.json()["labels"] is None
    too_many = client.post("/v1/datasets/preview", json={**body, "n_samples": 10_001})
    assert too_many.status_code == 422
    assert too_many.json()["detail"].startswith(
        "n_samples: a preview shows at most 10,000 samples, got 10,001"
    )
    bad = client.post("/v1/datasets/preview", json={**body, "kind": "torus"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("kind: ")
