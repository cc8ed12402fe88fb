"""API keys: 401s, constant-time matching, ownership isolation on every endpoint, the
admin view, the OpenAPI security scheme, CORS. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

import app.api.auth
from app.api.auth import Keyring, parse_keys
from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_head
from app.db.models import Dataset, Job
from app.db.ownership import owner_of
from app.db.session import make_engine, make_sessionmaker
from tests.helpers import (
    ADMIN_API_KEY,
    API_KEY,
    OTHER_API_KEY,
    add_dataset,
    make_settings,
    network_spec,
    training_config,
)
from worker.runner import Worker

ALICE, BOB, ROOT = API_KEY, OTHER_API_KEY, ADMIN_API_KEY  # the keys of `keyed_settings`
PUBLIC = ["/health", "/docs", "/redoc", "/openapi.json"]
DASHBOARD = [
    "/",
    "/static/dashboard.js",
    "/static/dashboard.css",
    "/static/common.js",
    "/playground",
    "/static/playground.js",
    "/static/playground.css",
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_client(keyed_settings: Settings) -> Iterator[TestClient]:
    """A client of the app on ``keyed_settings`` (lifespan running); requests carry no key
    unless a test adds one."""
    with TestClient(create_app(keyed_settings)) as client:
        yield client


def create(client: TestClient, key: str, name: str = "xor") -> tuple[str, str]:
    """A dataset and a job owned by ``key``; returns their ids."""
    dataset = client.post(
        "/v1/datasets/generate",
        json={"kind": "xor", "n_samples": 40, "noise": 0.05, "seed": 1, "name": name},
        headers=bearer(key),
    )
    assert dataset.status_code == 201, dataset.text
    job = client.post(
        "/v1/jobs",
        json={"dataset_id": dataset.json()["id"], "network": network_spec(),
              "training": training_config(epochs=3, snapshot_every=2)},
        headers=bearer(key),
    )  # fmt: skip
    assert job.status_code == 202, job.text
    return dataset.json()["id"], job.json()["id"]


# -- 401 ---------------------------------------------------------------------------------


def test_missing_and_wrong_keys_get_401_with_www_authenticate(keyed_client: TestClient) -> None:
    missing = keyed_client.get("/v1/jobs")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="backprop"'
    assert missing.json() == {
        "detail": "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
    }
    for headers in (bearer("nope"), {"X-API-Key": "nope"}, bearer(ALICE[:-1]),
                    bearer(ALICE + "x"), {"Authorization": f"Basic {ALICE}"}):  # fmt: skip
        wrong = keyed_client.get("/v1/jobs", headers=headers)
        assert wrong.status_code == 401, headers
        assert "www-authenticate" in wrong.headers
    assert keyed_client.get("/v1/jobs", headers=bearer("nope")).json() == {
        "detail": "invalid API key"
    }
    assert keyed_client.get("/v1/jobs", headers=bearer(ALICE)).status_code == 200
    assert keyed_client.get("/v1/jobs", headers={"X-API-Key": BOB}).status_code == 200
    assert (
        keyed_client.get("/v1/jobs", headers={"authorization": f"bearer {ROOT}"}).status_code == 200
    )


def test_every_operation_but_the_public_ones_requires_a_key(keyed_client: TestClient) -> None:
    schema = keyed_client.get("/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        if path in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", "someid", path)
        for method in operations:
            response = keyed_client.request(method.upper(), url, json={})
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 12  # every dataset and job operation (more as routers are added)
    for path in PUBLIC + DASHBOARD:
        assert keyed_client.get(path).status_code == 200, path


def test_a_refused_key_stores_nothing(keyed_client: TestClient, keyed_settings: Settings) -> None:
    response = keyed_client.post(
        "/v1/datasets", json={"name": "x", "inputs": [[0]], "labels": [0]}, headers=bearer("no")
    )
    assert response.status_code == 401
    assert keyed_client.get("/v1/datasets", headers=bearer(ROOT)).json()["total"] == 0


def test_keys_are_compared_in_constant_time_against_every_key(
    keyed_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(app.api.auth.hmac, "compare_digest", spy)
    assert keyed_client.get("/v1/jobs", headers=bearer("wrong")).status_code == 401
    assert sorted(b for _, b in calls) == sorted(k.encode() for k in (ALICE, BOB, ROOT))
    calls.clear()
    assert keyed_client.get("/v1/jobs", headers=bearer(ALICE)).status_code == 200
    assert len(calls) == 3  # no early exit on the first (matching) key


def test_keys_from_a_file_and_from_a_list(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# team keys\nk-one\n\n  k-two  \n")
    assert parse_keys(f"@{keys}") == ["k-one", "k-two"]
    assert parse_keys(" a, b ,,c ") == ["a", "b", "c"]
    assert parse_keys("") == []
    with pytest.raises(ValueError, match="BACKPROP_API_KEYS: cannot read key file"):
        parse_keys(f"@{tmp_path / 'missing.txt'}")
    ring = Keyring(parse_keys(f"@{keys}"))
    principal = ring.authenticate("k-two")
    assert principal is not None and principal.owner == owner_of("k-two")
    assert not principal.admin and ring.authenticate("k-three") is None


# -- ownership ---------------------------------------------------------------------------


def test_another_key_gets_404_on_every_endpoint_and_never_sees_items_in_lists(
    keyed_client: TestClient, keyed_settings: Settings
) -> None:
    dataset_id, job_id = create(keyed_client, ALICE)
    worker = Worker(keyed_settings)
    try:
        assert worker.run_once() == job_id  # trained: weights exist, so 404 means hidden
    finally:
        worker.close()
    mine, theirs = bearer(ALICE), bearer(BOB)
    predict: dict[str, Any] = {"inputs": [[0, 1]]}
    job_body: dict[str, Any] = {"network": network_spec(), "training": training_config()}
    Call = tuple[str, str, dict[str, Any] | None]
    backprop = {"job_id": job_id, "inputs": [[0, 1]], "targets": [[1]]}
    reads: list[Call] = [
        ("GET", f"/v1/datasets/{dataset_id}", None),
        ("GET", f"/v1/datasets/{dataset_id}/download", None),
        ("GET", f"/v1/jobs/{job_id}", None),
        ("GET", f"/v1/jobs/{job_id}/metrics", None),
        ("GET", f"/v1/jobs/{job_id}/weights", None),
        ("GET", f"/v1/jobs/{job_id}/weights?format=npz", None),
        ("GET", f"/v1/jobs/{job_id}/weights?epoch=2", None),
        ("POST", f"/v1/jobs/{job_id}/predict", predict),
        ("POST", "/v1/backprop", backprop),
        ("GET", f"/v1/jobs/{job_id}/events", None),
        ("GET", f"/v1/jobs/{job_id}/plots/loss.svg", None),
        ("GET", f"/v1/plots/loss.svg?jobs={job_id}", None),
        ("GET", f"/v1/jobs/{job_id}/plots/decision-boundary.json", None),
        ("GET", f"/v1/jobs/{job_id}/plots/decision-boundary.png", None),
        ("GET", f"/v1/jobs/{job_id}/plots/decision-boundary.json?epoch=2", None),
    ]
    for method, url, body in reads:
        assert keyed_client.request(method, url, json=body, headers=mine).status_code == 200, url
        other = keyed_client.request(method, url, json=body, headers=theirs)
        assert other.status_code == 404, (url, other.status_code)
        assert "not found" in other.json()["detail"]
    writes: list[Call] = [
        ("POST", f"/v1/jobs/{job_id}/cancel", None),
        ("DELETE", f"/v1/jobs/{job_id}", None),
        ("DELETE", f"/v1/datasets/{dataset_id}", None),
        ("POST", "/v1/jobs", {"dataset_id": dataset_id, **job_body}),
        ("POST", "/v1/jobs", {"dataset_name": "xor", **job_body}),
    ]
    for method, url, body in writes:
        response = keyed_client.request(method, url, json=body, headers=theirs)
        assert response.status_code == 404, (method, url, response.status_code)
    for path in ("/v1/datasets", "/v1/jobs", "/v1/jobs?status=succeeded"):
        hidden = keyed_client.get(path, headers=theirs).json()
        assert hidden["items"] == [] and hidden["total"] == 0, path
        listed = keyed_client.get(path, headers=mine).json()
        assert listed["total"] == 1 and len(listed["items"]) == 1, path
    # Nothing of Alice's was touched by Bob's attempts.
    job = keyed_client.get(f"/v1/jobs/{job_id}", headers=mine).json()
    assert job["status"] == "succeeded" and not job["cancel_requested"]
    assert keyed_client.get(f"/v1/datasets/{dataset_id}", headers=mine).status_code == 200
    assert keyed_client.get("/v1/jobs", headers=mine).json()["total"] == 1


def test_owners_can_act_on_their_own_items(keyed_client: TestClient) -> None:
    dataset_id, job_id = create(keyed_client, BOB)
    mine = bearer(BOB)
    by_name = keyed_client.post(
        "/v1/jobs", headers=mine,
        json={"dataset_name": "xor", "network": network_spec(), "training": training_config()},
    )  # fmt: skip
    assert by_name.status_code == 202 and by_name.json()["dataset_id"] == dataset_id
    assert (
        keyed_client.post(f"/v1/jobs/{job_id}/cancel", headers=mine).json()["status"] == "cancelled"
    )
    assert keyed_client.delete(f"/v1/jobs/{job_id}", headers=mine).status_code == 204
    assert keyed_client.delete(f"/v1/jobs/{by_name.json()['id']}", headers=mine).status_code == 204
    assert keyed_client.delete(f"/v1/datasets/{dataset_id}", headers=mine).status_code == 204
    assert keyed_client.get("/v1/datasets", headers=mine).json()["total"] == 0


def test_a_same_named_dataset_of_another_owner_is_never_picked(keyed_client: TestClient) -> None:
    alice_dataset, _ = create(keyed_client, ALICE, name="shared-name")
    bob_dataset, _ = create(keyed_client, BOB, name="shared-name")  # newer
    job = keyed_client.post(
        "/v1/jobs", headers=bearer(ALICE),
        json={"dataset_name": "shared-name", "network": network_spec(),
              "training": training_config()},
    )  # fmt: skip
    assert job.status_code == 202 and job.json()["dataset_id"] == alice_dataset != bob_dataset


def test_an_admin_key_sees_and_manages_everything(keyed_client: TestClient) -> None:
    alice_dataset, alice_job = create(keyed_client, ALICE)
    bob_dataset, bob_job = create(keyed_client, BOB)
    admin = bearer(ROOT)
    jobs = keyed_client.get("/v1/jobs", headers=admin).json()
    assert {j["id"] for j in jobs["items"]} == {alice_job, bob_job}
    datasets = keyed_client.get("/v1/datasets", headers=admin).json()
    assert {d["id"] for d in datasets["items"]} == {alice_dataset, bob_dataset}
    assert keyed_client.get(f"/v1/jobs/{alice_job}", headers=admin).status_code == 200
    assert keyed_client.post(f"/v1/jobs/{bob_job}/cancel", headers=admin).status_code == 202
    own_dataset, own_job = create(keyed_client, ROOT)
    assert keyed_client.get(f"/v1/jobs/{own_job}", headers=bearer(ALICE)).status_code == 404


def test_the_owner_column_holds_a_hash_of_the_key_never_the_key(
    keyed_client: TestClient, keyed_settings: Settings
) -> None:
    dataset_id, job_id = create(keyed_client, ALICE)
    engine = make_engine(keyed_settings)
    try:
        with make_sessionmaker(engine)() as session:
            dataset = session.scalars(select(Dataset).where(Dataset.id == dataset_id)).one()
            job = session.scalars(select(Job).where(Job.id == job_id)).one()
            assert dataset.owner == job.owner == owner_of(ALICE)
            # salted and slow: neither the key nor its plain SHA-256
            assert dataset.owner != hashlib.sha256(ALICE.encode()).hexdigest()
            for table in ("datasets", "jobs"):
                rows = session.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608
                assert ALICE not in repr(rows)
    finally:
        engine.dispose()


# -- open mode, OpenAPI, CORS ------------------------------------------------------------


def test_without_keys_the_api_is_open_and_declares_no_security(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/jobs").status_code == 200
        schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert all("security" not in op for ops in schema["paths"].values() for op in ops.values())


def test_openapi_declares_bearer_and_header_schemes_for_the_authorize_button(
    keyed_client: TestClient,
) -> None:
    schema = keyed_client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    jobs = schema["paths"]["/v1/jobs"]["get"]
    assert jobs["security"] == [{"bearerAuth": []}, {"apiKeyHeader": []}]
    assert "401" in jobs["responses"]
    assert schema["paths"]["/health"]["get"]["security"] == []
    docs = keyed_client.get("/docs").text
    assert "/openapi.json" in docs  # Swagger UI renders the Authorize button from the schema


def test_cors_allows_only_the_configured_origins(database_url: str) -> None:
    origin = "https://app.example"
    settings = make_settings(database_url, api_keys=ALICE, cors_origins=f"{origin}, http://x")
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        preflight = client.options(
            "/v1/jobs",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "authorization"},
        )  # fmt: skip
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        other = client.get("/v1/jobs", headers={"Origin": "https://evil.example", **bearer(ALICE)})
        assert "access-control-allow-origin" not in other.headers
    with TestClient(create_app(make_settings(database_url))) as client:
        plain = client.get("/health", headers={"Origin": origin})
        assert "access-control-allow-origin" not in plain.headers


def test_create_dataset_upload_and_json_are_owned_too(keyed_client: TestClient) -> None:
    json_body = {"name": "tiny", "inputs": [[0, 0], [1, 1]], "labels": [0, 1]}
    created = keyed_client.post("/v1/datasets", json=json_body, headers=bearer(ALICE))
    upload = keyed_client.post(
        "/v1/datasets/upload",
        files={"file": ("d.csv", b"x,y\n0,0\n1,1\n", "text/csv")},
        headers=bearer(ALICE),
    )
    assert created.status_code == upload.status_code == 201
    for dataset in (created.json(), upload.json()):
        assert (
            keyed_client.get(f"/v1/datasets/{dataset['id']}", headers=bearer(BOB)).status_code
            == 404
        )
    listed: dict[str, Any] = keyed_client.get("/v1/datasets", headers=bearer(ALICE)).json()
    assert listed["total"] == 2


def test_an_idempotency_key_never_replays_another_owners_response(keyed_client: TestClient) -> None:
    body = {"kind": "xor", "n_samples": 20, "name": "mine"}
    key = {"Idempotency-Key": "same-key-for-everyone"}
    first = keyed_client.post("/v1/datasets/generate", json=body, headers={**key, **bearer(ALICE)})
    again = keyed_client.post("/v1/datasets/generate", json=body, headers={**key, **bearer(ALICE)})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]  # Alice's retry is replayed
    other = keyed_client.post("/v1/datasets/generate", json=body, headers={**key, **bearer(BOB)})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    bobs = other.json()["id"]
    assert keyed_client.get(f"/v1/datasets/{bobs}", headers=bearer(ALICE)).status_code == 404
    assert keyed_client.get("/v1/datasets", headers=bearer(BOB)).json()["total"] == 1


def test_a_short_key_is_refused_at_start_up_saying_how_to_make_one(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "short.db", api_keys=f"{ALICE},alice-secret")
    with pytest.raises(ValueError) as caught:
        create_app(settings)
    assert str(caught.value) == (
        "BACKPROP_API_KEYS: key 2 has 12 characters; an API key needs at least 16. Make a "
        "strong one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
    )
    assert "alice-secret" not in str(caught.value)
    admin = make_settings(tmp_path / "short.db", admin_api_keys="root")
    with pytest.raises(ValueError, match="^BACKPROP_ADMIN_API_KEYS: key 1 has 4 characters"):
        create_app(admin)


def test_rows_stamped_with_the_plain_sha256_of_a_key_are_adopted(
    keyed_settings: Settings,
) -> None:
    """Datasets stored before owners were salted stay visible to their key."""
    engine = make_engine(keyed_settings)
    try:
        with make_sessionmaker(engine)() as session:
            row = add_dataset(session)
            row.owner = hashlib.sha256(ALICE.encode()).hexdigest()
            session.commit()
            dataset_id = row.id
    finally:
        engine.dispose()
    with TestClient(create_app(keyed_settings)) as client:
        seen = client.get(f"/v1/datasets/{dataset_id}", headers=bearer(ALICE))
        assert seen.status_code == 200
        assert client.get(f"/v1/datasets/{dataset_id}", headers=bearer(BOB)).status_code == 404
