"""Class numbers in a CSV uploaded without a task are classes, and the response says so."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_a_label_column_of_digits_is_a_ten_class_target(client: TestClient) -> None:
    rows = "\n".join(f"{i % 7},{i % 5},{i % 10}" for i in range(60))
    upload = client.post(
        "/v1/datasets/upload",
        files={"file": ("digits.csv", f"a,b,label\n{rows}\n".encode(), "text/csv")},
    )
    assert upload.status_code == 201, upload.text
    dataset = upload.json()
    assert (dataset["task"], dataset["n_outputs"]) == ("classification", 10)
    assert dataset["classes"] == [str(k) for k in range(10)]
    job = client.post(
        "/v1/jobs",
        json={
            "dataset_id": dataset["id"],
            "network": {
                "sizes": [2, 8, 10],
                "output_activation": "softmax",
                "cost": "log_likelihood",
            },  # fmt: skip
            "training": {"epochs": 1, "batch_size": 10},
        },
    )
    assert job.status_code == 202, job.text
