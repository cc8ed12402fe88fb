"""SQLite on a full disk: clear 507 answers, nothing stored, nothing wedged.

Each test mounts a small tmpfs of its own for the database (as root; skipped with the
reason elsewhere) and fills it with a filler file where the case needs a full disk.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.db.migrate import upgrade_head
from tests.helpers import fill, make_settings, network_spec, small_volume, training_config


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    with small_volume(tmp_path / "volume", megabytes=24) as path:
        yield path


@pytest.fixture
def volume_client(volume: Path) -> Iterator[TestClient]:
    settings = make_settings(volume / "backprop.db")
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        yield client


def npz_of(megabytes: int) -> bytes:
    rows = megabytes * 2**20 // (8 * 64)
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, inputs=rng.random((rows, 64)), labels=np.arange(rows) % 2)
    return buffer.getvalue()


def small_job(client: TestClient) -> int:
    dataset = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 20})
    assert dataset.status_code == 201, dataset.text
    body = {"dataset_id": dataset.json()["id"], "network": network_spec(),
            "training": training_config()}  # fmt: skip
    return client.post("/v1/jobs", json=body).status_code


def test_an_upload_larger_than_the_free_space_is_507_and_the_database_stays_writable(
    volume_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    before = volume_client.get("/v1/datasets").json()["total"]
    with caplog.at_level(logging.WARNING, logger="backprop.api"):
        response = volume_client.post(
            "/v1/datasets/upload", files={"file": ("big.npz", npz_of(32), "application/x")}
        )
    assert response.status_code == 507, response.text
    detail = response.json()["detail"]
    assert detail.startswith("not enough free space to store this dataset: it needs about")
    assert detail.endswith("are free; nothing was stored")
    assert [r.getMessage()[:24] for r in caplog.records] == ["not enough free space to"]
    assert volume_client.get("/v1/datasets").json()["total"] == before
    # Right after, the database takes writes and says so.
    assert volume_client.get("/health").status_code == 200
    assert small_job(volume_client) == 202


def test_a_full_disk_answers_507_on_writes_and_health_until_space_is_back(
    volume_client: TestClient, volume: Path
) -> None:
    dataset = volume_client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 20})
    filler = fill(volume)
    health = volume_client.get("/health")
    assert health.status_code == 507, health.text
    assert health.json()["detail"] == "database cannot write: database or disk is full"
    body = {"dataset_id": dataset.json()["id"], "network": network_spec(),
            "training": training_config()}  # fmt: skip
    refused = volume_client.post("/v1/jobs", json=body)
    assert refused.status_code == 507, refused.text
    assert refused.json()["detail"] == (
        "the database's disk is full (database or disk is full); nothing was stored"
    )
    assert volume_client.get("/v1/datasets").status_code == 200  # reads still work
    filler.unlink()
    assert volume_client.get("/health").status_code == 200
    assert volume_client.post("/v1/jobs", json=body).status_code == 202
