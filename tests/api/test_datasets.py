"""``/v1/datasets``: every endpoint, and every bad input refused with nothing stored."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.helpers import counts, xor_dataset

XOR = {"name": "xor", "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "labels": [0, 1, 1, 0]}


def test_create_from_json_labels_is_one_hot_with_class_names(client: TestClient) -> None:
    response = client.post("/v1/datasets", json=XOR)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "xor" and body["task"] == "classification"
    assert (body["n_samples"], body["n_features"], body["n_outputs"]) == (4, 2, 2)
    assert body["classes"] == ["0", "1"]
    assert set(body) == {
        "id", "name", "n_samples", "n_features", "n_outputs", "task", "classes", "created_at",
        "sha256",
    }  # fmt: skip
    data = client.get(f"/v1/datasets/{body['id']}/download").json()
    assert data["inputs"] == XOR["inputs"]
    assert data["targets"] == [[1, 0], [0, 1], [0, 1], [1, 0]]


def test_create_from_json_targets_regression(client: TestClient) -> None:
    body = {"name": "line", "inputs": [[0.0], [1.0], [2.0]], "targets": [[0.5], [1.5], [2.5]]}
    response = client.post("/v1/datasets", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["task"] == "regression" and response.json()["classes"] is None


def test_generate_xor(client: TestClient) -> None:
    body = xor_dataset(client, n_samples=40)
    assert (body["n_samples"], body["n_features"], body["n_outputs"]) == (40, 2, 1)
    assert body["classes"] == ["0", "1"] and body["name"] == "xor"


@pytest.mark.parametrize("kind", ["circles", "moons", "spirals", "blobs", "sine"])
def test_generate_every_kind(client: TestClient, kind: str) -> None:
    response = client.post("/v1/datasets/generate", json={"kind": kind, "n_samples": 30})
    assert response.status_code == 201, response.text
    assert response.json()["n_samples"] == 30


def test_generate_passes_n_classes_through(client: TestClient) -> None:
    response = client.post(
        "/v1/datasets/generate", json={"kind": "blobs", "n_samples": 30, "n_classes": 5}
    )
    assert response.status_code == 201, response.text
    assert response.json()["n_outputs"] == 5
    assert response.json()["classes"] == ["0", "1", "2", "3", "4"]


def test_generate_refuses_n_classes_for_a_kind_without_classes(
    client: TestClient, session: Session
) -> None:
    response = client.post("/v1/datasets/generate", json={"kind": "xor", "n_classes": 4})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "n_classes: is not an option of 'xor' (it takes no options)"
    )
    assert counts(session)["datasets"] == 0


def test_upload_csv_with_a_named_categorical_target(client: TestClient) -> None:
    csv = b"colour,x1,x2\nred,0,1\nblue,1,0\nred,0.5,0.5\n"
    response = client.post(
        "/v1/datasets/upload",
        files={"file": ("points.csv", csv, "text/csv")},
        data={"name": "points", "target": "colour"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["n_samples"], body["n_features"], body["n_outputs"]) == (3, 2, 2)
    assert body["classes"] == ["blue", "red"] and body["name"] == "points"


def test_upload_csv_default_target_is_the_last_column(client: TestClient) -> None:
    csv = b"x,y\n0,0.5\n1,1.5\n2,2.5\n"
    response = client.post("/v1/datasets/upload", files={"file": ("line.csv", csv)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "line.csv" and body["task"] == "regression"
    assert (body["n_features"], body["n_outputs"]) == (1, 1)


def npz_bytes(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_upload_npz(client: TestClient) -> None:
    data = npz_bytes(inputs=np.eye(3), targets=np.eye(3))
    response = client.post(
        "/v1/datasets/upload", files={"file": ("eye.npz", data)}, data={"name": "eye"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["n_samples"], body["n_features"], body["n_outputs"]) == (3, 3, 3)
    npz = client.get(f"/v1/datasets/{body['id']}/download", params={"format": "npz"})
    assert npz.headers["content-type"] == "application/octet-stream"
    with np.load(io.BytesIO(npz.content), allow_pickle=False) as arrays:
        assert np.array_equal(arrays["inputs"], np.eye(3))


def test_list_is_paged_newest_first(client: TestClient) -> None:
    ids = [xor_dataset(client, name=f"d{i}")["id"] for i in range(3)]
    page = client.get("/v1/datasets", params={"limit": 2}).json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0
    assert [d["id"] for d in page["items"]] == ids[::-1][:2]
    rest = client.get("/v1/datasets", params={"limit": 2, "offset": 2}).json()
    assert [d["id"] for d in rest["items"]] == ids[:1]


def test_get_and_delete(client: TestClient) -> None:
    dataset = xor_dataset(client)
    assert client.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    missing = client.get(f"/v1/datasets/{dataset['id']}")
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"dataset {dataset['id']!r} not found"}


def test_unknown_dataset_is_404_everywhere(client: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/datasets/nope"),
        ("GET", "/v1/datasets/nope/download"),
        ("DELETE", "/v1/datasets/nope"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404
        assert response.json() == {"detail": "dataset 'nope' not found"}


def test_delete_conflicts_while_a_queued_job_uses_it(client: TestClient) -> None:
    dataset = xor_dataset(client)
    job = client.post(
        "/v1/jobs",
        json={"dataset_id": dataset["id"], "network": {"sizes": [2, 4, 1]}},
    )
    assert job.status_code == 202, job.text
    response = client.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"dataset {dataset['id']!r} is used by a queued or running job"
    }
    client.post(f"/v1/jobs/{job.json()['id']}/cancel")
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job.json()['id']}").json()["dataset_id"] is None


# ---- bad input: (request, status, exact detail); nothing may be stored ------------------

BAD_JSON: list[tuple[str, dict[str, Any], str]] = [
    (
        "ragged inputs",
        {"name": "r", "inputs": [[0, 0], [1]], "labels": [0, 1]},
        "inputs[1]: has 1 value, expected 2",
    ),
    (
        "empty inputs",
        {"name": "e", "inputs": [], "labels": []},
        "inputs: is empty, expected at least one row",
    ),
    (
        "labels count",
        {"name": "c", "inputs": [[0], [1], [2]], "labels": [0, 1]},
        "labels: has 2 labels but inputs has 3 rows",
    ),
    (
        "targets count",
        {"name": "c", "inputs": [[0], [1], [2]], "targets": [[0], [1]]},
        "targets: has 2 rows but inputs has 3 rows",
    ),
    (
        "both targets and labels",
        {"name": "b", "inputs": [[0]], "targets": [[0]], "labels": [0]},
        "targets: give either targets (numbers) or labels (class names), not both",
    ),
    (
        "non-numeric value",
        {"name": "n", "inputs": [[0, "abc"]], "labels": [0]},
        "inputs[0][1]: Input should be a valid number, unable to parse string as a number",
    ),
    (
        "missing name",
        {"inputs": [[0]], "labels": [0]},
        "name: Field required",
    ),
]


@pytest.mark.parametrize(
    ("body", "detail"), [c[1:] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON]
)
def test_bad_json_dataset_is_422_and_stores_nothing(
    client: TestClient, session: Session, body: dict[str, Any], detail: str
) -> None:
    response = client.post("/v1/datasets", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == detail
    assert counts(session)["datasets"] == 0


def test_nan_and_inf_values_are_refused(client: TestClient, session: Session) -> None:
    for token in ("NaN", "Infinity", "-Infinity"):
        raw = '{"name": "n", "inputs": [[0, 1], [' + token + ', 1]], "labels": [0, 1]}'
        response = client.post(
            "/v1/datasets", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
        expected = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[token]
        assert response.json()["detail"] == f"inputs[1][0]: is not finite ({expected})"
    assert counts(session)["datasets"] == 0


def test_malformed_json_is_422_naming_the_body(client: TestClient, session: Session) -> None:
    response = client.post(
        "/v1/datasets",
        content=b'{"name": "x", "inputs": [[0,',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body: malformed JSON")
    assert counts(session)["datasets"] == 0


@pytest.mark.parametrize("path", ["/v1/datasets", "/v1/datasets/generate", "/v1/jobs"])
def test_a_body_that_is_not_utf8_is_422_not_a_bare_400(
    client: TestClient, session: Session, path: str
) -> None:
    body = b'{"name": "\xff"}'
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == "body: malformed JSON (not UTF-8 text at byte 10)"
    assert set(counts(session).values()) == {0}


BAD_UPLOADS: list[tuple[str, bytes, dict[str, str], str]] = [
    (
        "non-numeric cell",
        b"x1,x2,y\n0,1,0\n1,abc,1\n",
        {},
        "row 2, column 'x2': 'abc' is not a number",
    ),
    (
        "missing target column",
        b"x1,x2,y\n0,1,0\n",
        {"target": "label"},
        "target: column 'label' is not in the file; its columns are 'x1', 'x2', 'y'",
    ),
]


@pytest.mark.parametrize(
    ("data", "form", "detail"), [c[1:] for c in BAD_UPLOADS], ids=[c[0] for c in BAD_UPLOADS]
)
def test_bad_csv_upload_is_422_and_stores_nothing(
    client: TestClient, session: Session, data: bytes, form: dict[str, str], detail: str
) -> None:
    response = client.post("/v1/datasets/upload", files={"file": ("d.csv", data)}, data=form)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == detail
    assert counts(session)["datasets"] == 0


def test_pickled_npz_is_refused(client: TestClient, session: Session) -> None:
    objects = np.array([{"a": 1}, None], dtype=object)
    data = npz_bytes(inputs=objects, targets=objects)
    response = client.post("/v1/datasets/upload", files={"file": ("evil.npz", data)})
    assert response.status_code == 422
    assert response.json()["detail"] == "file: object arrays (pickle) are not accepted"
    assert counts(session)["datasets"] == 0


def test_unknown_generator_kind_names_the_choices(client: TestClient) -> None:
    response = client.post("/v1/datasets/generate", json={"kind": "mnist"})
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "kind: Input should be 'xor', 'circles', 'moons', 'spirals', 'blobs' or 'sine'"
    )
