"""The inspection module: z, δ and gradients of one pass, checked from the equations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from app.nn import Network, backprop_trace, gradient_check, training_gradients

from .factories import numeric_gradients, one_hot_batch, rel_error, spec


# σ'(z) written independently of app.nn.activations
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


SIGMA_PRIME: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda z: _sigmoid(z) * (1 - _sigmoid(z)),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(float),
    "identity": lambda z: np.ones_like(z),
}


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "identity"])
def test_hidden_deltas_follow_the_backprop_equation(hidden: str) -> None:
    net = Network.initialize(spec([3, 5, 4, 2], hidden_activation=hidden), seed=2)
    x, y = one_hot_batch(6, 3, 2)
    trace = backprop_trace(net, x, y)
    weights = net.weights
    a_prev = x
    for layer, lt in enumerate(trace.layers):
        # z_l = W_l a_{l-1} + b_l for every sample (rows)
        np.testing.assert_allclose(
            lt.z, a_prev @ weights[layer].T + net.biases[layer], rtol=1e-13, atol=1e-13
        )
        a_prev = lt.activation
    # output layer, sigmoid + cross_entropy: δ_L = a − y
    np.testing.assert_allclose(
        trace.layers[-1].delta, trace.layers[-1].activation - y, rtol=0, atol=1e-15
    )
    for layer in range(len(weights) - 2, -1, -1):
        expected = (trace.layers[layer + 1].delta @ weights[layer + 1]) * SIGMA_PRIME[hidden](
            trace.layers[layer].z
        )
        np.testing.assert_allclose(trace.layers[layer].delta, expected, rtol=1e-12, atol=1e-15)
        # ∂C/∂W = mean over the batch of δ_l a_{l-1}ᵀ, ∂C/∂b = mean δ_l
        a_in = x if layer == 0 else trace.layers[layer - 1].activation
        mean_outer = np.mean(
            [np.outer(d, a) for d, a in zip(trace.layers[layer].delta, a_in, strict=True)], axis=0
        )
        np.testing.assert_allclose(trace.layers[layer].grad_weights, mean_outer, rtol=1e-12)
        np.testing.assert_allclose(
            trace.layers[layer].grad_biases, trace.layers[layer].delta.mean(axis=0), rtol=1e-12
        )


def test_general_output_delta_for_a_non_canonical_pair() -> None:
    # quadratic cost with a tanh output: δ_L = (a − y) ⊙ σ'(z_L)
    net = Network.initialize(spec([3, 4, 2], output_activation="tanh", cost="quadratic"), seed=5)
    x, y = one_hot_batch(4, 3, 2)
    out = backprop_trace(net, x, y).layers[-1]
    np.testing.assert_allclose(
        out.delta, (out.activation - y) * (1 - np.tanh(out.z) ** 2), rtol=1e-12
    )


def test_trace_reports_the_mean_cost() -> None:
    net = Network.initialize(
        spec([3, 4, 2], output_activation="softmax", cost="log_likelihood"), seed=5
    )
    x, y = one_hot_batch(4, 3, 2)
    trace = backprop_trace(net, x, y)
    a = trace.layers[-1].activation
    assert trace.cost == pytest.approx(np.mean(-np.log(a[y == 1])), rel=1e-12)
    assert [lt.grad_weights.shape for lt in trace.layers] == [(4, 3), (2, 4)]
    assert [lt.activation_name for lt in trace.layers] == ["sigmoid", "softmax"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trace_gradients_equal_finite_differences_and_the_training_code(dtype: str) -> None:
    net = Network.initialize(spec([3, 5, 2], hidden_activation="tanh"), seed=8, dtype=dtype)
    x, y = one_hot_batch(7, 3, 2)
    net64 = net.astype("float64")
    trace = backprop_trace(net64, x, y)
    num_w, num_b = numeric_gradients(net64, x, y, eps=1e-5)
    fast_w, fast_b = training_gradients(net, x, y)
    checks = gradient_check(net, x, y)
    tol = 1e-6 if dtype == "float64" else 1e-4  # float32 training code vs float64 maths
    for layer, lt in enumerate(trace.layers):
        assert rel_error(num_w[layer], lt.grad_weights) < 1e-6
        assert rel_error(num_b[layer], lt.grad_biases) < 1e-6
        assert rel_error(lt.grad_weights, fast_w[layer]) < tol
        assert rel_error(lt.grad_biases, fast_b[layer]) < tol
        assert checks[layer].max_rel_error_weights < 1e-5
        assert checks[layer].max_rel_error_biases < 1e-5
        numeric = checks[layer].numeric_weights
        assert numeric is not None and numeric.shape == lt.grad_weights.shape
