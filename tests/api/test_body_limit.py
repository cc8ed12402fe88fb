"""Bodies over BACKPROP_MAX_BODY_BYTES get 413 without being read; smaller ones pass."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.db.migrate import upgrade_head
from tests.helpers import make_settings

LIMIT = 1000
DETAIL = {"detail": f"request body is larger than the limit of {LIMIT} bytes"}


@pytest.fixture
def small_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "limit.db", max_body_bytes=LIMIT)
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        yield client


def big_body() -> bytes:
    rows = ",".join("[0.5, 0.5]" for _ in range(200))
    labels = ",".join("0" for _ in range(200))
    return f'{{"name": "big", "inputs": [{rows}], "labels": [{labels}]}}'.encode()


def test_declared_length_over_the_limit_is_413(small_client: TestClient) -> None:
    response = small_client.post(
        "/v1/datasets", content=big_body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == DETAIL


def test_streamed_body_over_the_limit_is_413(small_client: TestClient) -> None:
    body = big_body()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    response = small_client.post(
        "/v1/datasets", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == DETAIL


def test_multipart_upload_over_the_limit_is_413(small_client: TestClient) -> None:
    csv = b"x,y\n" + b"0.5,1\n" * 400
    response = small_client.post("/v1/datasets/upload", files={"file": ("big.csv", csv)})
    assert response.status_code == 413
    assert response.json() == DETAIL


def test_a_body_under_the_limit_is_accepted(small_client: TestClient) -> None:
    body = {"name": "xor", "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "labels": [0, 1, 1, 0]}
    assert small_client.post("/v1/datasets", json=body).status_code == 201
