"""`POST /v1/backprop` computes docs/design.md §1: checked against an independent implementation.

For every allowed output activation × cost and every hidden activation, on a network
with two hidden layers, from the values the endpoint returns:

- `z`, `activation` and the cost equal a plain forward pass (tests/nn/reference.py);
- the output delta equals the chain rule `J_σ(z_L)ᵀ ∇_a C`, and each hidden layer's delta
  equals `(W_{l+1}ᵀ δ_{l+1}) ⊙ σ'(z_l)` recomputed here from the returned `delta`, weights
  and `z` of the neighbouring layers;
- `grad_weights`/`grad_biases` equal the batch means of `δ_l a_{l-1}ᵀ` / `δ_l`, central
  finite differences of the cost, and the gradients the engine's training loop uses
  (one full-batch SGD epoch from the same weights moves them by exactly `−η ∇C`);
- the returned update equals docs/design.md §1's rule and the training loop's step with L2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.nn import Network, NetworkSpec, TrainingConfig, train, training_gradients
from app.schemas.backprop import XOR_EXAMPLE
from tests.nn import reference as ref

HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
OUTPUT_COST = [
    ("sigmoid", "quadratic"),
    ("tanh", "quadratic"),
    ("relu", "quadratic"),
    ("identity", "quadratic"),
    ("softmax", "quadratic"),
    ("sigmoid", "cross_entropy"),
    ("softmax", "cross_entropy"),
    ("softmax", "log_likelihood"),
]
SIZES = [3, 4, 3, 2]
BATCH = 5


def _batch(output: str, cost: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, SIZES[0]))
    if output == "softmax":
        y = np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], size=BATCH)]
    elif cost == "cross_entropy":
        y = rng.uniform(0.05, 0.95, size=(BATCH, SIZES[-1]))
    else:
        y = rng.normal(size=(BATCH, SIZES[-1]))
    return x, y


def _layers(body: dict[str, Any]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.array(lt["weights"]), np.array(lt["biases"])) for lt in body["layers"]]


def _post(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/backprop", json=payload)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(
    scope="module", params=[(h, o, c) for h in HIDDEN for o, c in OUTPUT_COST], ids="-".join
)
def case(request: pytest.FixtureRequest, shared_client: Any) -> dict[str, Any]:
    """One pass per hidden × output × cost, weights initialised from a seed by the server."""
    hidden, output, cost = request.param
    x, y = _batch(output, cost, seed=10 * HIDDEN.index(hidden) + OUTPUT_COST.index((output, cost)))
    network = {
        "sizes": SIZES,
        "hidden_activation": hidden,
        "output_activation": output,
        "cost": cost,
    }
    payload = {
        "network": network,
        "seed": 7,
        "inputs": x.tolist(),
        "targets": y.tolist(),
        "learning_rate": 0.25,
        "l2": 0.3,
        "n": 20,
    }
    body = _post(shared_client, payload)
    activations = [hidden] * (len(SIZES) - 2) + [output]
    return {"body": body, "x": x, "y": y, "network": network, "activations": activations}


def test_forward_pass_and_cost(case: dict[str, Any]) -> None:
    body, acts = case["body"], case["activations"]
    layers = _layers(body)
    zs, outs = ref.forward(layers, acts, case["x"])
    assert [lt["activation_function"] for lt in body["layers"]] == acts
    for lt, z, a in zip(body["layers"], zs, outs, strict=True):
        np.testing.assert_allclose(lt["z"], z, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lt["activation"], a, rtol=1e-12, atol=1e-12)
    expected = ref.cost_per_sample(case["network"]["cost"], outs[-1], case["y"]).mean()
    assert body["cost"] == pytest.approx(expected, rel=1e-12)
    assert body["batch_size"] == BATCH and body["source"] == "seed"


def test_deltas_follow_the_backward_equation(case: dict[str, Any]) -> None:
    body, acts = case["body"], case["activations"]
    layers, traces = _layers(body), body["layers"]
    z_out, a_out = np.array(traces[-1]["z"]), np.array(traces[-1]["activation"])
    expected_out = ref.output_delta(acts[-1], case["network"]["cost"], z_out, a_out, case["y"])
    np.testing.assert_allclose(traces[-1]["delta"], expected_out, rtol=1e-9, atol=1e-12)
    for index in range(len(traces) - 2, -1, -1):
        w_next = layers[index + 1][0]
        delta_next = np.array(traces[index + 1]["delta"])
        z = np.array(traces[index]["z"])
        # δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ σ'(z_l); with rows as samples, W_{l+1}ᵀ δ is δ @ W.
        expected = (delta_next @ w_next) * ref.DERIVATIVES[acts[index]](z)
        np.testing.assert_allclose(traces[index]["delta"], expected, rtol=1e-12, atol=1e-15)


def test_gradients_are_batch_means_of_delta_products(case: dict[str, Any]) -> None:
    traces = case["body"]["layers"]
    previous = case["x"]
    for lt in traces:
        delta = np.array(lt["delta"])
        np.testing.assert_allclose(
            lt["grad_weights"], delta.T @ previous / BATCH, rtol=1e-12, atol=1e-15
        )
        np.testing.assert_allclose(lt["grad_biases"], delta.mean(axis=0), rtol=1e-12, atol=1e-15)
        previous = np.array(lt["activation"])


def test_gradients_equal_finite_differences(case: dict[str, Any]) -> None:
    body = case["body"]
    numeric = ref.finite_difference_gradients(
        _layers(body), case["activations"], case["network"]["cost"], case["x"], case["y"]
    )
    for lt, (gw, gb) in zip(body["layers"], numeric, strict=True):
        np.testing.assert_allclose(lt["grad_weights"], gw, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(lt["grad_biases"], gb, rtol=1e-6, atol=1e-8)
    check = body["gradient_check"]
    assert [c["layer"] for c in check["layers"]] == [1, 2, 3]
    assert check["max_rel_error"] < 1e-6


def test_gradients_equal_the_training_loops(case: dict[str, Any]) -> None:
    """One epoch of full-batch plain SGD from the same weights moves them by `−η ∇C`."""
    body = case["body"]
    spec = NetworkSpec.from_dict(case["network"])
    start = [{"weights": lt["weights"], "biases": lt["biases"]} for lt in body["layers"]]
    eta = 0.5
    config = TrainingConfig(
        epochs=1, batch_size=BATCH, learning_rate=eta, shuffle=False, seed=0, dtype="float64"
    )
    result = train(spec, config, case["x"], case["y"], task="regression", initial_weights=start)
    trained = result.network.to_document()["layers"]
    for lt, before, after in zip(body["layers"], start, trained, strict=True):
        step_w = (np.array(before["weights"]) - np.array(after["weights"])) / eta
        step_b = (np.array(before["biases"]) - np.array(after["biases"])) / eta
        np.testing.assert_allclose(step_w, lt["grad_weights"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(step_b, lt["grad_biases"], rtol=1e-9, atol=1e-12)
    # And the training code's batch gradients themselves (its preallocated fast path).
    grad_w, grad_b = training_gradients(Network.from_layers(spec, start), case["x"], case["y"])
    for lt, gw, gb in zip(body["layers"], grad_w, grad_b, strict=True):
        np.testing.assert_allclose(gw, lt["grad_weights"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(gb, lt["grad_biases"], rtol=1e-12, atol=1e-15)


def test_update_subtracts_the_gradient_with_l2(case: dict[str, Any]) -> None:
    body = case["body"]
    update = body["update"]
    eta, lam, n = 0.25, 0.3, 20
    assert (update["learning_rate"], update["l2"], update["n"]) == (eta, lam, n)
    for lt, new in zip(body["layers"], update["layers"], strict=True):
        w, b = np.array(lt["weights"]), np.array(lt["biases"])
        expected_w = (1 - eta * lam / n) * w - eta * np.array(lt["grad_weights"])
        expected_b = b - eta * np.array(lt["grad_biases"])
        np.testing.assert_allclose(new["weights"], expected_w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(new["biases"], expected_b, rtol=1e-12, atol=1e-15)
    new_layers = [(np.array(u["weights"]), np.array(u["biases"])) for u in update["layers"]]
    after = ref.mean_cost(
        new_layers, case["activations"], case["network"]["cost"], case["x"], case["y"]
    )
    assert update["cost_after"] == pytest.approx(after, rel=1e-12)


def test_update_equals_the_training_loops_step_with_l2(client: Any) -> None:
    """With n = batch size, the endpoint's step is the training loop's (SGD + L2) step."""
    x, y = _batch("sigmoid", "cross_entropy", seed=3)
    network = {"sizes": SIZES, "hidden_activation": "tanh", "cost": "cross_entropy"}
    body = _post(
        client,
        {
            "network": network,
            "seed": 11,
            "inputs": x.tolist(),
            "targets": y.tolist(),
            "learning_rate": 0.4,
            "l2": 2.0,
        },
    )
    assert body["update"]["n"] == BATCH
    start = [{"weights": lt["weights"], "biases": lt["biases"]} for lt in body["layers"]]
    config = TrainingConfig(
        epochs=1, batch_size=BATCH, learning_rate=0.4, l2=2.0, shuffle=False, dtype="float64"
    )
    result = train(
        NetworkSpec.from_dict(network), config, x, y, task="regression", initial_weights=start
    )
    for new, trained in zip(
        body["update"]["layers"], result.network.to_document()["layers"], strict=True
    ):
        np.testing.assert_allclose(new["weights"], trained["weights"], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(new["biases"], trained["biases"], rtol=1e-12, atol=1e-15)


def test_schema_example_2_3_1_xor(client: Any) -> None:
    """The documented example runs as-is: the hidden delta is built from the output's."""
    body = _post(client, XOR_EXAMPLE)
    hidden, output = body["layers"]
    x = np.array(XOR_EXAMPLE["inputs"], dtype=float)
    y = np.array(XOR_EXAMPLE["targets"], dtype=float)
    # sigmoid output + cross-entropy: δ_L = a − y (σ' cancels).
    np.testing.assert_allclose(output["delta"], np.array(output["activation"]) - y, atol=1e-15)
    a1 = ref.sigmoid(np.array(hidden["z"]))
    expected = (np.array(output["delta"]) @ np.array(output["weights"])) * a1 * (1 - a1)
    np.testing.assert_allclose(hidden["delta"], expected, rtol=1e-12)
    np.testing.assert_allclose(hidden["grad_weights"], np.array(hidden["delta"]).T @ x / 4)
    assert body["source"] == "weights"
    assert np.array(hidden["grad_weights"]).shape == (3, 2)
    assert body["gradient_check"]["max_rel_error"] < 1e-6
    # Gradient descent: a small step down the gradient lowers the cost.
    assert body["update"]["cost_after"] < body["cost"]
