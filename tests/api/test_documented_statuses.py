"""Every status the OpenAPI schema documents is reachable: a scripted walk through the
API provokes each one on purpose (fuzzing finds the 5xx; this finds dead documentation).

The walk records ``(method, path template, status)`` for every response; the test then
compares that with the schema, minus a short list of statuses no request can produce,
each with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from app.api.idempotency import _Fingerprint
from app.api.main import create_app
from app.db.idempotency import idempotency_keys
from app.db.migrate import upgrade_head
from app.db.session import make_engine
from app.db.types import utcnow
from tests.helpers import fill, make_settings, network_spec, small_volume, training_config
from worker.runner import Worker

# FastAPI documents 422 on every operation with parameters; these have only a string path
# parameter, which any value satisfies.
UNREACHABLE = {
    ("GET", "/v1/datasets/{dataset_id}", "422"),
    ("DELETE", "/v1/datasets/{dataset_id}", "422"),
    ("GET", "/v1/jobs/{job_id}", "422"),
    ("DELETE", "/v1/jobs/{job_id}", "422"),
    ("POST", "/v1/jobs/{job_id}/cancel", "422"),
    ("GET", "/v1/jobs/{job_id}/events", "422"),  # its only parameters are strings
    ("GET", "/v1/sweeps/{sweep_id}", "422"),
    ("DELETE", "/v1/sweeps/{sweep_id}", "422"),
    ("GET", "/v1/sweeps/{sweep_id}/trials", "422"),
    ("POST", "/v1/sweeps/{sweep_id}/cancel", "422"),
    ("GET", "/v1/jobs/{job_id}/model.onnx", "422"),
    ("GET", "/v1/jobs/{job_id}/receipt", "422"),
    ("GET", "/v1/jobs/{job_id}/lineage", "422"),
    ("POST", "/v1/jobs/{job_id}/replay", "422"),
}


class Walk:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(self, method: str, template: str, url: str, **kwargs: object) -> dict:
        response = self.client.request(method, url, **kwargs)  # type: ignore[arg-type]
        assert response.status_code < 500, response.text
        self.seen.add((method, template, str(response.status_code)))
        try:
            return response.json()  # type: ignore[no-any-return]
        except (json.JSONDecodeError, UnicodeDecodeError):  # an image or an event stream
            return {}


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[tuple[Walk, object]]:
    settings = make_settings(tmp_path / "walk.db", max_body_bytes=20_000, max_queued_jobs=2)
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        yield Walk(client), settings


def test_every_documented_status_is_reachable(walk: tuple[Walk, object], tmp_path: Path) -> None:
    w, settings = walk
    big = {"name": "big", "inputs": [[0.5, 0.5]] * 3000, "labels": [0, 1] * 1500}
    xor = {"kind": "xor", "n_samples": 40, "seed": 1}

    w("GET", "/health", "/health")
    # datasets: create three ways, each refusal
    ds = w("POST", "/v1/datasets/generate", "/v1/datasets/generate", json=xor)
    w("POST", "/v1/datasets/generate", "/v1/datasets/generate", json={"kind": "nope"})
    w("POST", "/v1/datasets/preview", "/v1/datasets/preview", json=xor)
    w("POST", "/v1/datasets/preview", "/v1/datasets/preview", json={**xor, "n_samples": 10**5})
    arrays = {"name": "a", "inputs": [[0, 0], [1, 1]], "labels": [0, 1]}
    w("POST", "/v1/datasets", "/v1/datasets", json=arrays)
    w("POST", "/v1/datasets", "/v1/datasets", json={"name": "a", "inputs": []})
    w("POST", "/v1/datasets", "/v1/datasets", json=big)
    csv = {"file": ("d.csv", b"x,y\n0,0\n1,1\n")}
    w("POST", "/v1/datasets/upload", "/v1/datasets/upload", files=csv)
    w("POST", "/v1/datasets/upload", "/v1/datasets/upload", files={"file": ("d.csv", b"x\n")})
    w("POST", "/v1/datasets/upload", "/v1/datasets/upload", files={"file": ("d", b"0" * 30_000)})
    for path, body in (("/v1/datasets", arrays), ("/v1/datasets/generate", xor)):
        w("POST", path, path, json=body, headers={"Idempotency-Key": "not valid"})
    w("POST", "/v1/datasets/upload", "/v1/datasets/upload", files=csv,
      headers={"Idempotency-Key": "not valid"})  # fmt: skip
    w("GET", "/v1/datasets", "/v1/datasets")
    w("GET", "/v1/datasets", "/v1/datasets", params={"limit": 0})
    one = "/v1/datasets/{dataset_id}"
    w("GET", one, f"/v1/datasets/{ds['id']}")
    w("GET", one, "/v1/datasets/missing")
    dl = "/v1/datasets/{dataset_id}/download"
    w("GET", dl, f"/v1/datasets/{ds['id']}/download")
    w("GET", dl, f"/v1/datasets/{ds['id']}/download", params={"format": "xml"})
    w("GET", dl, "/v1/datasets/missing/download")

    # jobs
    body = {"dataset_id": ds["id"], "network": network_spec(), "training": training_config()}
    job = w("POST", "/v1/jobs", "/v1/jobs", json=body)
    w("POST", "/v1/jobs", "/v1/jobs", json={**body, "dataset_id": "missing"})
    w("POST", "/v1/jobs", "/v1/jobs", json={**body, "network": network_spec(sizes=[3, 1])})
    w("POST", "/v1/jobs", "/v1/jobs", json={**body, "initial_weights": [big] * 2})
    w("POST", "/v1/jobs", "/v1/jobs", json=body, headers={"Idempotency-Key": "not valid"})
    w("DELETE", one, f"/v1/datasets/{ds['id']}")  # 409: a queued job uses it
    w("POST", "/v1/jobs", "/v1/jobs", json=body)
    w("POST", "/v1/jobs", "/v1/jobs", json=body)  # 429: two are waiting
    w("GET", "/v1/jobs", "/v1/jobs")
    w("GET", "/v1/jobs", "/v1/jobs", params={"status": "lost"})
    j = "/v1/jobs/{job_id}"
    w("GET", j, f"/v1/jobs/{job['id']}")
    w("GET", j, "/v1/jobs/missing")
    weights, predict = "/v1/jobs/{job_id}/weights", "/v1/jobs/{job_id}/predict"
    w("GET", weights, f"/v1/jobs/{job['id']}/weights")  # 409: not trained yet
    w("POST", predict, f"/v1/jobs/{job['id']}/predict", json={"inputs": [[0, 1]]})  # 409

    worker = Worker(settings, owner="walk")  # type: ignore[arg-type]
    try:
        assert worker.run_once() == job["id"]
    finally:
        worker.close()
    metrics = "/v1/jobs/{job_id}/metrics"
    w("GET", metrics, f"/v1/jobs/{job['id']}/metrics")
    w("GET", metrics, f"/v1/jobs/{job['id']}/metrics", params={"after": -1})
    w("GET", metrics, "/v1/jobs/missing/metrics")
    w("GET", weights, f"/v1/jobs/{job['id']}/weights")
    w("GET", weights, f"/v1/jobs/{job['id']}/weights", params={"format": "xml"})
    w("GET", weights, "/v1/jobs/missing/weights")
    w("POST", predict, f"/v1/jobs/{job['id']}/predict", json={"inputs": [[0, 1]]})
    w("POST", predict, f"/v1/jobs/{job['id']}/predict", json={"inputs": [[0, 1, 2]]})
    w("POST", predict, f"/v1/jobs/{job['id']}/predict", content=b"\x80\x81\x82",
      headers={"content-type": "application/json"})  # fmt: skip
    w("POST", predict, f"/v1/jobs/{job['id']}/predict", json={"inputs": [[0.5, 0.5]] * 3000})
    w("POST", predict, "/v1/jobs/missing/predict", json={"inputs": [[0, 1]]})
    # export, receipt, lineage and replay (the queue holds one job: room for one replay)
    onnx, receipt = "/v1/jobs/{job_id}/model.onnx", "/v1/jobs/{job_id}/receipt"
    lineage, replay = "/v1/jobs/{job_id}/lineage", "/v1/jobs/{job_id}/replay"
    for template in (onnx, receipt, lineage):
        w("GET", template, template.replace("{job_id}", job["id"]))
        w("GET", template, template.replace("{job_id}", "missing"))
    replayed = w("POST", replay, f"/v1/jobs/{job['id']}/replay")
    w("POST", replay, f"/v1/jobs/{job['id']}/replay")  # 429: two are waiting
    w("POST", replay, f"/v1/jobs/{replayed['id']}/replay")  # 409: not finished
    w("GET", onnx, f"/v1/jobs/{replayed['id']}/model.onnx")  # 409: no weights yet
    w("POST", replay, "/v1/jobs/missing/replay")
    # live progress, plots and the backprop inspector, on the trained job and a queued one
    waiting = w("GET", "/v1/jobs", "/v1/jobs", params={"status": "queued"})["items"][0]["id"]
    last = w("GET", metrics, f"/v1/jobs/{job['id']}/metrics")["items"][-1]["epoch"]
    ev = "/v1/jobs/{job_id}/events"
    w("GET", ev, f"/v1/jobs/{job['id']}/events")  # replays the finished job, then ends
    w("GET", ev, f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": f"{last}-succeeded"})
    w("GET", ev, f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": "garbage"})
    w("GET", ev, "/v1/jobs/missing/events")
    loss = "/v1/jobs/{job_id}/plots/loss.{fmt}"
    w("GET", loss, f"/v1/jobs/{job['id']}/plots/loss.svg")
    w("GET", loss, f"/v1/jobs/{job['id']}/plots/loss.gif")
    w("GET", loss, "/v1/jobs/missing/plots/loss.png")
    compare = "/v1/plots/loss.{fmt}"
    w("GET", compare, "/v1/plots/loss.svg", params={"jobs": job["id"]})
    w("GET", compare, "/v1/plots/loss.svg", params={"jobs": "missing"})
    w("GET", compare, "/v1/plots/loss.svg")
    for fmt in ("png", "json"):
        boundary = f"/v1/jobs/{{job_id}}/plots/decision-boundary.{fmt}"
        w("GET", boundary, f"/v1/jobs/{job['id']}/plots/decision-boundary.{fmt}")
        w("GET", boundary, f"/v1/jobs/{waiting}/plots/decision-boundary.{fmt}")  # 409
        w("GET", boundary, "/v1/jobs/missing/plots/decision-boundary." + fmt)
        w("GET", boundary, f"/v1/jobs/{job['id']}/plots/decision-boundary.{fmt}",
          params={"resolution": 1})  # fmt: skip
    batch = {"inputs": [[0, 1]], "targets": [[1]]}
    w("POST", "/v1/backprop", "/v1/backprop", json={"job_id": job["id"], **batch})
    w("POST", "/v1/backprop", "/v1/backprop", json={"job_id": waiting, **batch})  # 409
    w("POST", "/v1/backprop", "/v1/backprop", json={"job_id": "missing", **batch})
    w("POST", "/v1/backprop", "/v1/backprop", json={"job_id": job["id"], "inputs": [[0]]})
    cancel = "/v1/jobs/{job_id}/cancel"
    queued = w("GET", "/v1/jobs", "/v1/jobs", params={"status": "queued"})["items"][0]
    w("POST", cancel, f"/v1/jobs/{queued['id']}/cancel")
    w("POST", cancel, f"/v1/jobs/{job['id']}/cancel")  # 409: finished
    w("POST", cancel, "/v1/jobs/missing/cancel")
    w("DELETE", j, f"/v1/jobs/{queued['id']}")
    w("DELETE", j, "/v1/jobs/missing")
    w("DELETE", one, "/v1/datasets/missing")
    spare = w("POST", "/v1/datasets/generate", "/v1/datasets/generate", json=xor)
    w("DELETE", one, f"/v1/datasets/{spare['id']}")

    # sweeps: create (each refusal), read, trials, plots, cancel, delete
    space = {"training.learning_rate": {"type": "choice", "values": [0.5, 1.0]}}
    sweep_body = {
        "dataset_id": ds["id"], "network": network_spec(), "training": training_config(),
        "space": space, "sampler": {"kind": "grid", "seed": 0},
        "objective": {"metric": "train_loss"},
    }  # fmt: skip
    s = "/v1/sweeps"
    for status in ("queued", "running"):  # an empty queue to start from
        for queued_job in w("GET", "/v1/jobs", "/v1/jobs", params={"status": status})["items"]:
            w.client.post(f"/v1/jobs/{queued_job['id']}/cancel")
    sweep = w("POST", s, s, json=sweep_body)  # its first trial: one job queued
    w("POST", "/v1/jobs", "/v1/jobs", json=body)  # the second queued job
    w("POST", s, s, json=sweep_body)  # 429: two are waiting
    w("POST", s, s, json={**sweep_body, "dataset_id": "missing"})
    w(
        "POST",
        s,
        s,
        json={**sweep_body, "space": {"training.nope": space["training.learning_rate"]}},
    )
    w("POST", s, s, json={**sweep_body, "space": {"network.sizes": {
        "type": "choice", "values": [[2, 8, 1]] * 3000}}})  # fmt: skip
    w("POST", s, s, json=sweep_body, headers={"Idempotency-Key": "not valid"})
    w("GET", s, s)
    w("GET", s, s, params={"limit": 0})
    one_sweep, trials = "/v1/sweeps/{sweep_id}", "/v1/sweeps/{sweep_id}/trials"
    w("GET", one_sweep, f"/v1/sweeps/{sweep['id']}")
    w("GET", one_sweep, "/v1/sweeps/missing")
    w("GET", trials, f"/v1/sweeps/{sweep['id']}/trials")
    w("GET", trials, "/v1/sweeps/missing/trials")
    for plot in ("trials", "params"):
        template = f"/v1/sweeps/{{sweep_id}}/plots/{plot}.{{fmt}}"
        w("GET", template, f"/v1/sweeps/{sweep['id']}/plots/{plot}.svg")
        w("GET", template, f"/v1/sweeps/{sweep['id']}/plots/{plot}.gif")
        w("GET", template, f"/v1/sweeps/missing/plots/{plot}.png")
    sweep_cancel = "/v1/sweeps/{sweep_id}/cancel"
    w("POST", sweep_cancel, f"/v1/sweeps/{sweep['id']}/cancel")
    w("POST", sweep_cancel, f"/v1/sweeps/{sweep['id']}/cancel")  # 409: already cancelled
    w("POST", sweep_cancel, "/v1/sweeps/missing/cancel")
    w("DELETE", one_sweep, f"/v1/sweeps/{sweep['id']}")
    w("DELETE", one_sweep, "/v1/sweeps/missing")

    # 409 "still being processed" on each creating POST: a reservation left in progress
    engine = make_engine(settings)  # type: ignore[arg-type]
    for path, kwargs in (
        ("/v1/datasets", {"json": arrays}),
        ("/v1/datasets/generate", {"json": xor}),
        ("/v1/datasets/upload", {"files": csv}),
        ("/v1/jobs", {"json": body}),
        ("/v1/sweeps", {"json": sweep_body}),
    ):
        request = w.client.build_request("POST", path, **kwargs)  # type: ignore[arg-type]
        fingerprint = _Fingerprint("POST", path, request.headers["content-type"])
        fingerprint.update(request.read())
        with engine.begin() as conn:
            conn.execute(
                insert(idempotency_keys).values(
                    key=f"busy{path}", method="POST", path=path,
                    fingerprint=fingerprint.hexdigest(), created_at=utcnow(),
                )
            )  # fmt: skip
        w("POST", path, path, headers={"Idempotency-Key": f"busy{path}"}, **kwargs)
    engine.dispose()

    # 503 on every operation that reads the database: the same calls on a database that
    # cannot be opened (each with Retry-After)
    broken = make_settings(tmp_path / "missing-dir" / "x.db")
    with TestClient(create_app(broken)) as client:
        down = Walk(client)
        for method, template, url, kwargs in (
            ("GET", "/health", "/health", {}),
            ("POST", "/v1/datasets", "/v1/datasets", {"json": arrays}),
            ("POST", "/v1/datasets/generate", "/v1/datasets/generate", {"json": xor}),
            ("POST", "/v1/datasets/upload", "/v1/datasets/upload", {"files": csv}),
            ("GET", "/v1/datasets", "/v1/datasets", {}),
            ("GET", one, "/v1/datasets/x", {}),
            ("GET", dl, "/v1/datasets/x/download", {}),
            ("DELETE", one, "/v1/datasets/x", {}),
            ("POST", "/v1/jobs", "/v1/jobs", {"json": body}),
            ("GET", "/v1/jobs", "/v1/jobs", {}),
            ("GET", j, "/v1/jobs/x", {}),
            ("POST", cancel, "/v1/jobs/x/cancel", {}),
            ("DELETE", j, "/v1/jobs/x", {}),
            ("GET", metrics, "/v1/jobs/x/metrics", {}),
            ("GET", weights, "/v1/jobs/x/weights", {}),
            ("POST", predict, "/v1/jobs/x/predict", {"json": {"inputs": [[0, 1]]}}),
            ("GET", ev, "/v1/jobs/x/events", {}),
            ("GET", loss, "/v1/jobs/x/plots/loss.svg", {}),
            ("GET", compare, "/v1/plots/loss.svg", {"params": {"jobs": "x"}}),
            ("POST", "/v1/backprop", "/v1/backprop", {"json": {"job_id": "x", **batch}}),
            ("POST", s, s, {"json": sweep_body}),
            ("GET", s, s, {}),
            *(
                (method, f"/v1/jobs/{{job_id}}/{tail}", f"/v1/jobs/x/{tail}", {})
                for method, tail in (
                    ("GET", "model.onnx"),
                    ("GET", "receipt"),
                    ("GET", "lineage"),
                    ("POST", "replay"),
                )
            ),
            ("GET", one_sweep, "/v1/sweeps/x", {}),
            ("GET", trials, "/v1/sweeps/x/trials", {}),
            ("POST", sweep_cancel, "/v1/sweeps/x/cancel", {}),
            ("DELETE", one_sweep, "/v1/sweeps/x", {}),
            *(
                (
                    "GET",
                    f"/v1/sweeps/{{sweep_id}}/plots/{plot}.{{fmt}}",
                    f"/v1/sweeps/x/plots/{plot}.svg",
                    {},
                )
                for plot in ("trials", "params")
            ),  # fmt: skip
            *(
                (
                    "GET",
                    f"/v1/jobs/{{job_id}}/plots/decision-boundary.{fmt}",
                    f"/v1/jobs/x/plots/decision-boundary.{fmt}",
                    {},
                )
                for fmt in ("png", "json")
            ),  # fmt: skip
        ):
            response = client.request(method, url, **kwargs)
            assert response.status_code == 503, (url, response.text)
            assert response.headers["retry-after"] == "5"
            down.seen.add((method, template, "503"))
        w.seen |= down.seen

    # 507 on every operation that stores something: the same calls on a full disk
    with small_volume(tmp_path / "volume", megabytes=8) as volume:
        full = make_settings(volume / "x.db")
        upgrade_head(full)
        with TestClient(create_app(full)) as client:
            stored = client.post("/v1/datasets/generate", json=xor).json()
            trained = client.post("/v1/jobs", json={**body, "dataset_id": stored["id"]}).json()
            on_volume = Worker(full, owner="walk")
            try:
                assert on_volume.run_once() == trained["id"]
            finally:
                on_volume.close()
            fill(volume)
            for method, path, kwargs in (
                ("GET", "/health", {}),
                ("POST", "/v1/datasets", {"json": arrays}),
                ("POST", "/v1/datasets/generate", {"json": xor}),
                ("POST", "/v1/datasets/upload", {"files": csv}),
                ("POST", "/v1/jobs", {"json": {**body, "dataset_id": stored["id"]}}),
                ("POST", s, {"json": {**sweep_body, "dataset_id": stored["id"]}}),
                ("POST", f"/v1/jobs/{trained['id']}/replay", {}),
            ):
                response = client.request(method, path, **kwargs)
                assert response.status_code == 507, (path, response.text)
                w.seen.add((method, path.replace(trained["id"], "{job_id}"), "507"))

    documented = {
        (method.upper(), path, status)
        for path, operations in w.client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        for method, operation in operations.items()
        for status in operation["responses"]
    }
    missing = documented - w.seen - UNREACHABLE
    undocumented = w.seen - documented
    assert not missing, sorted(missing)
    assert not undocumented, sorted(undocumented)
