"""The OpenAPI document: every route's responses and errors are documented, the docs
pages need no internet, and the example bodies train XOR as they are ("Try it out")."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from app.config import Settings
from worker.runner import Worker


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()
    ]


def first_example(schema: dict[str, Any], path: str) -> Any:
    content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return next(iter(content["examples"].values()))["value"]


def test_every_route_documents_its_response_and_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert len(operations(schema)) >= 16
    for method, path, op in operations(schema):
        success = [code for code in op["responses"] if code.startswith("2")]
        assert success, (method, path)
        # One success with a body; a 204 beside it is fine (the event stream answers a
        # reconnect after the end with 204 No Content).
        assert len([code for code in success if code != "204"]) <= 1, (method, path)
        for code in success:
            if code == "204":
                continue
            content = op["responses"][code]["content"]
            # JSON where there is JSON; images and event streams document their own type.
            media = content.get("application/json") or next(iter(content.values()))
            assert "schema" in media, (method, path)
        errors = [code for code in op["responses"] if code[0] in "45"]
        assert errors, (method, path)
        if "422" in op["responses"]:
            ref = op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ValidationErrorResponse"), (method, path)


def test_every_json_request_body_has_an_example(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for method, path, op in operations(schema):
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            assert content["application/json"].get("examples"), (method, path)


def test_docs_and_redoc_are_self_hosted(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html.text)
        assert sources, page
        for source in sources:
            assert source.startswith("/"), source  # served by this app, not a CDN
            assert client.get(source).status_code == 200, source


def test_the_example_bodies_train_xor_as_they_are(client: TestClient, settings: Settings) -> None:
    schema = client.get("/openapi.json").json()
    dataset = client.post(
        "/v1/datasets/generate", json=first_example(schema, "/v1/datasets/generate")
    )
    assert dataset.status_code == 201, dataset.text
    job = client.post("/v1/jobs", json=first_example(schema, "/v1/jobs"))
    assert job.status_code == 202, job.text
    assert job.json()["dataset_id"] == dataset.json()["id"]

    worker = Worker(settings, owner="try-it-out")
    try:
        assert worker.run_once() == job.json()["id"]
    finally:
        worker.close()
    done = client.get(f"/v1/jobs/{job.json()['id']}").json()
    assert done["status"] == "succeeded", done
    assert done["final_metrics"]["train_accuracy"] == 1.0

    predict_path = "/v1/jobs/{job_id}/predict"
    body = first_example(schema, predict_path)
    predicted = client.post(predict_path.replace("{job_id}", done["id"]), json=body).json()
    assert predicted["labels"] == ["0", "1", "1", "0"]

    create = client.post("/v1/datasets", json=first_example(schema, "/v1/datasets"))
    assert create.status_code == 201, create.text
