"""IdempotencyMiddleware on a small stand-in app: the contract, independent of the service.

The stand-in counts how many times its handler really ran, so "replayed, not re-run" is
observable; tests against the real routes are in test_guards.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, func, select

from app.api.idempotency import REPLAYED_HEADER, IdempotencyMiddleware
from app.db.idempotency import idempotency_keys, purge_expired


def make_app(tmp_path: Path, **options: Any) -> tuple[FastAPI, list[dict]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'idem.db'}")
    idempotency_keys.create(engine)
    created: list[dict] = []
    gate: dict[str, asyncio.Event] = {}
    app = FastAPI()
    app.state.engine = engine
    app.state.gate = gate

    @app.post("/v1/jobs", status_code=202)
    async def submit(request: Request) -> JSONResponse:
        body = await request.body()
        payload = json.loads(body) if body else {}
        if payload.get("invalid"):
            return JSONResponse({"detail": "training.epochs: must be > 0"}, status_code=422)
        if payload.get("crash"):
            raise RuntimeError("boom")
        if "wait" in payload:
            await gate[payload["wait"]].wait()
        job = {"id": f"job{len(created) + 1}", "payload": payload}
        created.append(job)
        return JSONResponse(job, status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"})

    @app.post("/v1/datasets/upload", status_code=201)
    async def upload(request: Request) -> JSONResponse:
        async with request.form() as form:
            data = await form["file"].read()  # type: ignore[union-attr]
            item = {"id": f"ds{len(created) + 1}", "size": len(data), "name": form["name"]}
        created.append(item)
        return JSONResponse(item, status_code=201)

    @app.post("/v1/other")
    async def other() -> dict:
        created.append({"other": True})
        return {"n": len(created)}

    app.add_middleware(IdempotencyMiddleware, **options)
    return app, created


class client:  # noqa: N801 - used like httpx.Client
    """A synchronous ``post`` over httpx's ASGI transport, one event loop per request."""

    def __init__(self, app: FastAPI) -> None:
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def __enter__(self) -> client:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://t") as http:
                return await http.post(path, **kwargs)

        return asyncio.run(go())


def rows(app: FastAPI) -> int:
    with app.state.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one()


def test_retry_with_same_key_and_body_replays_the_original_response(tmp_path: Path) -> None:
    app, created = make_app(tmp_path)
    with client(app) as http:
        first = http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "k-1"})
        again = http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202
    assert again.status_code == 202
    assert again.json() == first.json() == {"id": "job1", "payload": {"epochs": 3}}
    assert again.headers["location"] == "/v1/jobs/job1"
    assert again.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    assert len(created) == 1


def test_different_keys_and_no_key_create_separately(tmp_path: Path) -> None:
    app, created = make_app(tmp_path)
    with client(app) as http:
        a = http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "a"})
        b = http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "b"})
        c = http.post("/v1/jobs", json={"epochs": 3})
        d = http.post("/v1/jobs", json={"epochs": 3})
    assert [r.json()["id"] for r in (a, b, c, d)] == ["job1", "job2", "job3", "job4"]
    assert len(created) == 4
    assert rows(app) == 2


def test_same_key_with_a_different_body_is_refused(tmp_path: Path) -> None:
    app, created = make_app(tmp_path)
    with client(app) as http:
        http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "k"})
        other = http.post("/v1/jobs", json={"epochs": 4}, headers={"Idempotency-Key": "k"})
    assert other.status_code == 422
    assert other.json() == {
        "detail": "Idempotency-Key 'k' was already used for a different request "
        "(POST /v1/jobs with another body); use a new key for a new request"
    }
    assert len(created) == 1


def test_same_key_on_another_endpoint_is_a_different_request(tmp_path: Path) -> None:
    app, created = make_app(tmp_path)
    with client(app) as http:
        http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "k"})
        files = {"file": ("x.csv", b"a,b\n1,0\n")}
        other = http.post(
            "/v1/datasets/upload", data={"name": "x"}, files=files, headers={"Idempotency-Key": "k"}
        )
    assert other.status_code == 422
    assert len(created) == 1


def test_failed_request_stores_nothing_and_the_key_can_be_reused(tmp_path: Path) -> None:
    app, created = make_app(tmp_path)
    with client(app) as http:
        bad = http.post("/v1/jobs", json={"invalid": True}, headers={"Idempotency-Key": "k"})
        assert bad.status_code == 422
        assert rows(app) == 0
        crash = http.post("/v1/jobs", json={"crash": True}, headers={"Idempotency-Key": "k"})
        assert crash.status_code == 500
        assert rows(app) == 0
        good = http.post("/v1/jobs", json={"epochs": 1}, headers={"Idempotency-Key": "k"})
    assert good.status_code == 202
    assert len(created) == 1
    assert rows(app) == 1


def test_concurrent_retry_while_the_first_runs_gets_409(tmp_path: Path) -> None:
    app, created = make_app(tmp_path)
    transport = httpx.ASGITransport(app=app)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        app.state.gate["g"] = asyncio.Event()
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            headers = {"Idempotency-Key": "slow"}
            first = asyncio.create_task(http.post("/v1/jobs", json={"wait": "g"}, headers=headers))
            while rows(app) == 0:  # the first request has reserved the key
                await asyncio.sleep(0.01)
            during = await http.post("/v1/jobs", json={"wait": "g"}, headers=headers)
            app.state.gate["g"].set()
            done = await first
            after = await http.post("/v1/jobs", json={"wait": "g"}, headers=headers)
            return during, done, after

    during, done, after = asyncio.run(scenario())
    assert during.status_code == 409
    assert "still being processed" in during.json()["detail"]
    assert done.status_code == 202
    assert after.json() == done.json()
    assert len(created) == 1


def test_multipart_retry_matches_despite_a_new_boundary(tmp_path: Path) -> None:
    app, created = make_app(tmp_path, spool_bytes=1024)  # also exercises the on-disk spool
    content = b"x1,x2,y\n" + b"0.5,0.25,1\n" * 5000
    with client(app) as http:
        responses = [
            http.post(
                "/v1/datasets/upload",
                data={"name": "big"},
                files={"file": ("d.csv", content, "text/csv")},
                headers={"Idempotency-Key": "up"},
            )
            for _ in range(2)
        ]
        changed = http.post(
            "/v1/datasets/upload",
            data={"name": "big"},
            files={"file": ("d.csv", content + b"1,1,0\n", "text/csv")},
            headers={"Idempotency-Key": "up"},
        )
    boundaries = {r.request.headers["content-type"] for r in responses}
    assert len(boundaries) == 2  # the client really drew two boundaries
    assert [r.status_code for r in responses] == [201, 201]
    assert (
        responses[1].json()
        == responses[0].json()
        == {"id": "ds1", "size": len(content), "name": "big"}
    )
    assert changed.status_code == 422
    assert len(created) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "é"])
def test_malformed_key_is_a_400_naming_the_header(tmp_path: Path, key: str) -> None:
    app, created = make_app(tmp_path)
    with client(app) as http:
        response = http.post("/v1/jobs", json={}, headers={"Idempotency-Key": key.encode()})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Idempotency-Key header: ")
    assert created == []


def test_routes_outside_the_list_ignore_the_header(tmp_path: Path) -> None:
    app, created = make_app(tmp_path)
    with client(app) as http:
        for _ in range(2):
            assert http.post("/v1/other", headers={"Idempotency-Key": "k"}).status_code == 200
    assert len(created) == 2
    assert rows(app) == 0


def test_expired_keys_are_forgotten(tmp_path: Path) -> None:
    app, created = make_app(tmp_path, ttl_seconds=0)
    with client(app) as http:
        http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "k"})
        again = http.post("/v1/jobs", json={"epochs": 3}, headers={"Idempotency-Key": "k"})
    assert again.json()["id"] == "job2"
    assert REPLAYED_HEADER not in again.headers
    assert purge_expired(app.state.engine, ttl_seconds=0) == 1
    assert rows(app) == 0


def test_requests_sweep_expired_keys_away(tmp_path: Path) -> None:
    app, created = make_app(tmp_path, ttl_seconds=0, purge_every_seconds=0)
    with client(app) as http:
        for key in ("a", "b", "c"):
            http.post("/v1/jobs", json={"epochs": 1}, headers={"Idempotency-Key": key})
    assert len(created) == 3
    assert rows(app) == 1  # each request deleted the expired keys before it
