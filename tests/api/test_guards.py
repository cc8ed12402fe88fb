"""Idempotent submits and limits on the real app (``create_app``, migrated SQLite)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_head
from app.db.models import Dataset, IdempotencyKey, Job
from app.db.session import make_engine
from tests.helpers import make_settings, network_spec, training_config


@contextmanager
def make_client(tmp_path: Path, **overrides: object) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "guards.db", **overrides)
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        client.app_settings = settings  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    """A client of the app on a migrated SQLite file of its own (these tests count rows
    through ``client.app_settings``)."""
    with make_client(tmp_path) as client:
        yield client


def rows(client: TestClient) -> dict[str, int]:
    settings: Settings = client.app_settings  # type: ignore[attr-defined]
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return {
                model.__tablename__: conn.execute(
                    select(func.count()).select_from(model)
                ).scalar_one()
                for model in (Dataset, Job, IdempotencyKey)
            }
    finally:
        engine.dispose()


XOR = {"kind": "xor", "n_samples": 40, "noise": 0.05, "seed": 1}


def job_body(dataset_id: str, **training: object) -> dict[str, object]:
    return {
        "dataset_id": dataset_id,
        "network": network_spec(),
        "training": training_config(**training),
    }


# -- Idempotency-Key ----------------------------------------------------------------------


def test_retried_generate_and_submit_create_once(sqlite_client: TestClient) -> None:
    key = {"Idempotency-Key": "gen-1"}
    first = sqlite_client.post("/v1/datasets/generate", json=XOR, headers=key)
    again = sqlite_client.post("/v1/datasets/generate", json=XOR, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"

    body = job_body(first.json()["id"])
    key = {"Idempotency-Key": "job-1"}
    job = sqlite_client.post("/v1/jobs", json=body, headers=key)
    retry = sqlite_client.post("/v1/jobs", json=body, headers=key)
    assert (job.status_code, retry.status_code) == (202, 202)
    assert retry.json() == job.json()
    assert rows(sqlite_client) == {"datasets": 1, "jobs": 1, "idempotency_keys": 2}
    listed = sqlite_client.get("/v1/jobs").json()
    assert [j["id"] for j in listed["items"]] == [job.json()["id"]]


def test_retried_json_dataset_and_upload_create_once(sqlite_client: TestClient) -> None:
    arrays = {"name": "xor", "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "labels": [0, 1, 1, 0]}
    made = [
        sqlite_client.post("/v1/datasets", json=arrays, headers={"Idempotency-Key": "json"})
        for _ in range(2)
    ]
    assert made[1].json() == made[0].json()
    csv = b"x1,x2,y\n0,0,a\n0,1,b\n1,0,b\n1,1,a\n"
    uploaded = [
        sqlite_client.post(
            "/v1/datasets/upload",
            files={"file": ("xor.csv", csv, "text/csv")},
            data={"name": "xor-csv"},
            headers={"Idempotency-Key": "csv"},
        )
        for _ in range(2)
    ]
    assert [u.status_code for u in uploaded] == [201, 201]
    assert uploaded[1].json() == uploaded[0].json()
    assert rows(sqlite_client)["datasets"] == 2


def test_same_key_other_body_is_422_and_creates_nothing(sqlite_client: TestClient) -> None:
    dataset = sqlite_client.post("/v1/datasets/generate", json=XOR).json()
    key = {"Idempotency-Key": "job-x"}
    assert (
        sqlite_client.post("/v1/jobs", json=job_body(dataset["id"]), headers=key).status_code == 202
    )
    other = sqlite_client.post("/v1/jobs", json=job_body(dataset["id"], epochs=9), headers=key)
    assert other.status_code == 422
    assert other.json()["detail"] == (
        "Idempotency-Key 'job-x' was already used for a different request "
        "(POST /v1/jobs with another body); use a new key for a new request"
    )
    assert rows(sqlite_client)["jobs"] == 1


def test_refused_request_stores_nothing_so_the_key_can_be_fixed(sqlite_client: TestClient) -> None:
    dataset = sqlite_client.post("/v1/datasets/generate", json=XOR).json()
    key = {"Idempotency-Key": "fix-me"}
    bad = job_body(dataset["id"])
    bad["network"] = network_spec(sizes=[3, 8, 1])
    refused = sqlite_client.post("/v1/jobs", json=bad, headers=key)
    assert refused.status_code == 422
    assert "sizes[0] is 3 but the dataset has 2 features" in refused.json()["detail"]
    assert rows(sqlite_client) == {"datasets": 1, "jobs": 0, "idempotency_keys": 0}
    fixed = sqlite_client.post("/v1/jobs", json=job_body(dataset["id"]), headers=key)
    assert fixed.status_code == 202
    assert rows(sqlite_client)["jobs"] == 1


def test_malformed_key_is_400(sqlite_client: TestClient) -> None:
    response = sqlite_client.post(
        "/v1/datasets/generate", json=XOR, headers={"Idempotency-Key": "a b"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Idempotency-Key header: 'a b' is not a valid key")
    assert rows(sqlite_client)["datasets"] == 0


def test_body_limit_still_answers_413_before_the_key_is_reserved(tmp_path: Path) -> None:
    with make_client(tmp_path, max_body_bytes=1000) as client:
        big = {"name": "big", "inputs": [[0.5, 0.25]] * 200, "labels": [0, 1] * 100}
        response = client.post("/v1/datasets", json=big, headers={"Idempotency-Key": "big"})
        assert response.status_code == 413
        assert rows(client) == {"datasets": 0, "jobs": 0, "idempotency_keys": 0}


def test_openapi_documents_the_header_on_the_creating_posts(sqlite_client: TestClient) -> None:
    schema = sqlite_client.get("/openapi.json").json()
    for path in ("/v1/jobs", "/v1/datasets", "/v1/datasets/upload", "/v1/datasets/generate"):
        operation = schema["paths"][path]["post"]
        names = [p["name"] for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names, path
        assert {"400", "409", "422"} <= set(operation["responses"]), path
    assert "parameters" not in schema["paths"]["/v1/jobs"]["get"] or all(
        p["name"] != "Idempotency-Key" for p in schema["paths"]["/v1/jobs"]["get"]["parameters"]
    )


# -- limits -------------------------------------------------------------------------------


def test_dataset_limit_on_every_way_in(tmp_path: Path) -> None:
    with make_client(tmp_path, max_dataset_values=60) as client:
        generated = client.post("/v1/datasets/generate", json={**XOR, "n_samples": 31})
        assert generated.status_code == 422
        assert generated.json()["detail"] == (
            "dataset: 31 rows x 2 features = 62 values; the limit is 60 "
            "(BACKPROP_MAX_DATASET_VALUES)"
        )
        inputs = [[0.0, 1.0]] * 31
        posted = client.post(
            "/v1/datasets", json={"name": "d", "inputs": inputs, "labels": [0, 1] * 15 + [0]}
        )
        assert posted.status_code == 422
        buffer = io.BytesIO()
        np.savez(buffer, inputs=np.zeros((31, 2)), targets=np.ones((31, 1)))
        uploaded = client.post("/v1/datasets/upload", files={"file": ("d.npz", buffer.getvalue())})
        assert uploaded.status_code == 422
        assert "(BACKPROP_MAX_DATASET_VALUES)" in uploaded.json()["detail"]
        assert (
            client.post("/v1/datasets/generate", json={**XOR, "n_samples": 30}).status_code == 201
        )
        assert rows(client)["datasets"] == 1


def test_network_epochs_and_queue_limits_on_submit(tmp_path: Path) -> None:
    with make_client(
        tmp_path, max_network_parameters=33, max_epochs=10, max_queued_jobs=2
    ) as client:
        dataset = client.post("/v1/datasets/generate", json=XOR).json()
        big = job_body(dataset["id"])
        big["network"] = network_spec(sizes=[2, 9, 1])  # 2*9+9 + 9+1 = 37 parameters
        response = client.post("/v1/jobs", json=big)
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "network.sizes: [2, 9, 1] has 37 parameters; the limit is 33 "
            "(BACKPROP_MAX_NETWORK_PARAMETERS)"
        )
        response = client.post("/v1/jobs", json=job_body(dataset["id"], epochs=11))
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "training.epochs: 11 epochs; the limit is 10 (BACKPROP_MAX_EPOCHS)"
        )
        for _ in range(2):
            assert client.post("/v1/jobs", json=job_body(dataset["id"])).status_code == 202
        full = client.post("/v1/jobs", json=job_body(dataset["id"]))
        assert full.status_code == 429
        assert full.headers["Retry-After"] == "5"
        assert full.json()["detail"].startswith(
            "the queue is full: 2 jobs are waiting; the limit is 2 (BACKPROP_MAX_QUEUED_JOBS)"
        )
        assert rows(client)["jobs"] == 2


def test_max_runtime_seconds_is_validated_and_kept_in_training(sqlite_client: TestClient) -> None:
    dataset = sqlite_client.post("/v1/datasets/generate", json=XOR).json()
    refused = sqlite_client.post("/v1/jobs", json=job_body(dataset["id"], max_runtime_seconds=0))
    assert refused.status_code == 422
    assert "max_runtime_seconds" in refused.json()["detail"]
    job = sqlite_client.post("/v1/jobs", json=job_body(dataset["id"], max_runtime_seconds=2.5))
    assert job.status_code == 202, job.text
    assert job.json()["training"]["max_runtime_seconds"] == 2.5
