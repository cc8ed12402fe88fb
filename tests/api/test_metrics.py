"""``GET /metrics`` in-process: the Prometheus text format parsed with prometheus-client's
parser, job counts read from the database, HTTP request counts, who may read it (an admin
key or BACKPROP_METRICS_TOKEN when keys are set) and its absence from the OpenAPI
document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app import jobqueue
from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_head
from tests.helpers import (
    ADMIN_API_KEY,
    API_KEY,
    add_dataset,
    make_settings,
    network_spec,
    training_config,
)

TOKEN = "scrape-token-123"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def families(text: str) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text)}


@pytest.fixture(autouse=True)
def single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)


def test_metrics_show_the_jobs_by_status_and_the_requests(
    client: TestClient, session: Session
) -> None:
    dataset = add_dataset(session)
    for _ in range(3):
        jobqueue.submit(
            session, dataset=dataset, network=network_spec(),
            training=training_config(), initial_weights=None, max_attempts=3,
        )  # fmt: skip
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None
    for _ in range(2):
        assert client.get("/health").status_code == 200
    assert client.get("/v1/jobs/nope").status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    jobs = {
        labels[0][1]: value for (name, labels), value in found.items() if name == "backprop_jobs"
    }
    assert jobs == {
        "queued": 2, "running": 1, "succeeded": 0, "failed": 0, "cancelled": 0, "pruned": 0
    }  # fmt: skip
    health = ("http_requests_total", (("handler", "/health"), ("method", "GET"), ("status", "2xx")))
    assert found[health] == 2
    missing = (
        "http_requests_total",
        (("handler", "/v1/jobs/{job_id}"), ("method", "GET"), ("status", "4xx")),
    )
    assert found[missing] == 1
    kinds = families(response.text)
    assert kinds["backprop_jobs"] == "gauge"
    assert kinds["http_request_duration_seconds"] == "histogram"
    for name in ("backprop_job_pickup_seconds", "backprop_epoch_seconds"):
        assert kinds[name] == "histogram"
    assert kinds["backprop_workers_busy"] == "gauge"


def test_metrics_are_not_an_operation_of_the_openapi_document(client: TestClient) -> None:
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


@pytest.fixture
def keyed_client(keyed_settings: Settings) -> Iterator[TestClient]:
    settings = keyed_settings.model_copy(update={"metrics_token": TOKEN})
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("wrong", 401), (API_KEY, 403), (ADMIN_API_KEY, 200), (TOKEN, 200)],
)
def test_with_api_keys_metrics_need_an_admin_key_or_the_token(
    keyed_client: TestClient, key: str | None, status: int
) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = keyed_client.get("/metrics", headers=headers)
    assert response.status_code == status, response.text
    if status == 403:
        assert "admin API key or BACKPROP_METRICS_TOKEN" in response.json()["detail"]
    if status == 200:
        assert "backprop_jobs" in families(response.text)


@pytest.fixture(scope="module")
def token_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("token") / "b.db", metrics_token=TOKEN)
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_token_guards_metrics_even_when_the_api_is_open(token_only: TestClient) -> None:
    assert token_only.get("/metrics").status_code == 401
    assert token_only.get("/metrics", headers={"X-API-Key": "guess"}).status_code == 401
    assert token_only.get("/metrics", headers={"X-API-Key": TOKEN}).status_code == 200
    assert token_only.get("/v1/jobs").status_code == 200  # the rest stays open
