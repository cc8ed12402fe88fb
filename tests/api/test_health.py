"""``GET /health``: 200 with job counts when the database answers, 503 when it cannot."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.api.main import create_app
from tests.helpers import make_settings, xor_dataset


def test_health_counts_jobs_by_status(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok", "jobs": {}}
    dataset = xor_dataset(client)
    body = {"dataset_id": dataset["id"], "network": {"sizes": [2, 3, 1]}}
    first = client.post("/v1/jobs", json=body).json()
    client.post("/v1/jobs", json=body)
    client.post(f"/v1/jobs/{first['id']}/cancel")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["jobs"] == {"queued": 1, "cancelled": 1}


def test_health_is_503_when_the_database_has_no_schema(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "empty.db")  # never migrated
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "detail": "database unavailable (cannot read): no such table: jobs; retry in a few seconds"
    }
