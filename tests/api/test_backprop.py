"""`POST /v1/backprop` at the HTTP edge: weight sources, and bad input named in `detail`."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

from app.schemas.backprop import XOR_EXAMPLE
from app.services.inspection import MAX_BATCH_ROWS, MAX_PARAMETERS


def _example(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(XOR_EXAMPLE)
    payload.update(changes)
    return payload


def _detail(response: Any) -> str:
    """The error detail as one string (a message, or pydantic's list of errors)."""
    return str(response.json()["detail"])


def test_seed_gives_reproducible_weights_of_the_right_shapes(client: Any) -> None:
    payload = _example(weights=None, seed=3)
    first = client.post("/v1/backprop", json=payload).json()
    second = client.post("/v1/backprop", json=payload).json()
    assert first["source"] == "seed"
    assert [np.shape(lt["weights"]) for lt in first["layers"]] == [(3, 2), (1, 3)]
    assert first["layers"] == second["layers"]


def test_without_learning_rate_or_check_there_is_no_update_or_check(client: Any) -> None:
    payload = _example(learning_rate=None, check_gradients=False)
    body = client.post("/v1/backprop", json=payload).json()
    assert body["update"] is None and body["gradient_check"] is None
    assert len(body["layers"]) == 2


def test_layers_of_a_weights_document_are_accepted(client: Any) -> None:
    """The `layers` of GET /v1/jobs/{id}/weights carry `activation`; that is accepted."""
    payload = _example()
    for layer in payload["weights"]:
        layer["activation"] = "sigmoid"
    assert client.post("/v1/backprop", json=payload).status_code == 200
    payload["weights"][1]["activation"] = "relu"
    response = client.post("/v1/backprop", json=payload)
    assert response.status_code == 422
    assert _detail(response) == (
        "weights[1].activation: is 'relu' but the network spec says 'sigmoid'"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"inputs": [[0, 0], [0, 1, 2], [1, 0], [1, 1]]},
            "inputs[1]: has 3 values, but the network's sizes[0] is 2",
        ),
        (
            {"targets": [[0], [1], [1], [0, 1]]},
            "targets[3]: has 2 values, but the network's sizes[-1] is 1",
        ),
        (
            {"targets": [[0], [1], [1]]},
            "targets: 3 rows, but inputs has 4; give one target per input",
        ),
        (
            {
                "weights": [
                    {"weights": [[0.5, -0.4, 0.3], [0.3, 0.8, 0.1]], "biases": [0, 0]},
                    {"weights": [[0.7, -0.5]], "biases": [0]},
                ]
            },
            "weights[0].weights: expected 3x2, got 2x3",
        ),
        (
            {"weights": XOR_EXAMPLE["weights"][:1]},
            "weights: expected a list of 2 layers, got 1",
        ),
        (
            {"weights": [XOR_EXAMPLE["weights"][0], {"weights": [[1, 2, 3]], "biases": [0, 1]}]},
            "weights[1].biases: expected 1, got 2",
        ),
    ],
    ids=[
        "input-width",
        "target-width",
        "target-count",
        "weights-shape",
        "layer-count",
        "biases-length",
    ],
)
def test_shape_mismatch_is_422_naming_the_field(
    client: Any, changes: dict[str, Any], expected: str
) -> None:
    response = client.post("/v1/backprop", json=_example(**changes))
    assert response.status_code == 422
    assert _detail(response) == expected


def test_oversize_batch_is_422_naming_the_limit(client: Any) -> None:
    rows = MAX_BATCH_ROWS + 1
    payload = _example(inputs=[[0, 1]] * rows, targets=[[1]] * rows)
    response = client.post("/v1/backprop", json=payload)
    assert response.status_code == 422
    assert _detail(response) == (
        f"inputs: {rows} rows; this endpoint is interactive and accepts at most "
        f"{MAX_BATCH_ROWS} rows per batch (MAX_BATCH_ROWS)"
    )
    at_limit = _example(inputs=[[0, 1]] * MAX_BATCH_ROWS, targets=[[1]] * MAX_BATCH_ROWS)
    assert client.post("/v1/backprop", json=at_limit).status_code == 200


def test_oversize_network_is_422_naming_the_limit(client: Any) -> None:
    sizes = [2, 100, 100, 1]
    count = 3 * 100 + 101 * 100 + 101
    assert count > MAX_PARAMETERS
    network = dict(XOR_EXAMPLE["network"], sizes=sizes)
    response = client.post("/v1/backprop", json=_example(network=network, weights=None, seed=0))
    assert response.status_code == 422
    assert _detail(response) == (
        f"network.sizes: {sizes} has {count} parameters; this endpoint is interactive and "
        f"accepts at most {MAX_PARAMETERS} parameters (MAX_PARAMETERS)"
    )


def test_non_finite_input_is_422(client: Any) -> None:
    payload = _example(inputs=[[0, 0], [0, 1], [1, float("nan")], [1, 1]])
    # httpx refuses NaN in json=; Python's json module writes it, and the server parses it.
    response = client.post(
        "/v1/backprop", content=json.dumps(payload), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert _detail(response) == "inputs[2]: values must be finite numbers (no NaN or inf)"


def test_refused_cost_pairing_is_422_naming_network_cost(client: Any) -> None:
    network = dict(XOR_EXAMPLE["network"], cost="log_likelihood")
    response = client.post("/v1/backprop", json=_example(network=network))
    assert response.status_code == 422
    assert _detail(response).startswith("network.cost: ")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"seed": 1}, "give exactly one of 'weights', 'job_id' and 'seed' (found: weights, seed)"),
        ({"weights": None}, "give exactly one of 'weights', 'job_id' and 'seed' (found: none)"),
        ({"network": None}, "'network' is required unless 'job_id' is given"),
    ],
)
def test_weight_source_must_be_one(client: Any, changes: dict[str, Any], expected: str) -> None:
    response = client.post("/v1/backprop", json=_example(**changes))
    assert response.status_code == 422
    assert expected in _detail(response)


def test_unknown_job_is_404(client: Any) -> None:
    payload = _example(weights=None, job_id="no-such-job")
    response = client.post("/v1/backprop", json=payload)
    assert response.status_code == 404
    assert _detail(response) == "job 'no-such-job' not found"


def test_the_openapi_examples_run_as_they_are(client: Any) -> None:
    """Try it out on /docs: the given-weights and seeded examples answer 200 as they are."""
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/backprop"]["post"]["requestBody"]["content"]["application/json"]
    examples = {name: entry["value"] for name, entry in body["examples"].items()}
    assert set(examples) == {"xor_2_3_1", "seeded_softmax", "job"}
    for name in ("xor_2_3_1", "seeded_softmax"):
        response = client.post("/v1/backprop", json=examples[name])
        assert response.status_code == 200, (name, response.text)
        assert response.json()["gradient_check"]["max_rel_error"] < 1e-6
    response = client.post("/v1/backprop", json=examples["job"])
    assert response.status_code == 404
    assert _detail(response) == "job '<job id>' not found"


def test_an_overflowing_pass_is_422_not_a_500(client: Any) -> None:
    """z = 10 · 1e308 is inf; JSON cannot carry it, so the caller hears why."""
    weights = copy.deepcopy(XOR_EXAMPLE["weights"])
    weights[0]["weights"][0] = [10.0, 0.0]
    payload = _example(weights=weights, inputs=[[1e308, 0]], targets=[[1]])
    response = client.post("/v1/backprop", json=payload)
    assert response.status_code == 422
    assert _detail(response) == (
        "inputs: the pass produced non-finite numbers (overflow, or a log of 0 in the cost); "
        "use smaller inputs or weights, or targets the cost allows"
    )
