"""An independent, deliberately plain implementation of docs/design.md §1 for the tests.

Written from the equations, not from the engine: activations and their derivatives, the
per-sample costs, and the output error as the general chain rule `δ_L = J_σ(z_L)ᵀ ∇_a C`
(with the full softmax Jacobian), so the engine's shortcuts (`a − y` for the canonical
pairs) are checked rather than repeated. Rows are samples.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "identity": lambda z: z,
    "softmax": softmax,
}

# σ'(z) for the element-wise activations (softmax has a Jacobian instead, see below).
DERIVATIVES: dict[str, Callable[[Array], Array]] = {
    "sigmoid": lambda z: sigmoid(z) * (1.0 - sigmoid(z)),
    "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(np.float64),
    "identity": np.ones_like,
}


def cost_per_sample(name: str, a: Array, y: Array) -> Array:
    """C_x for each row."""
    if name == "quadratic":
        return 0.5 * ((a - y) ** 2).sum(axis=1)
    if name == "cross_entropy":
        return -(y * np.log(a) + (1 - y) * np.log(1 - a)).sum(axis=1)
    if name == "log_likelihood":
        return -np.log((a * y).sum(axis=1))  # −ln a_y for one-hot y
    raise ValueError(name)


def cost_gradient(name: str, a: Array, y: Array) -> Array:
    """∇_a C_x for each row."""
    if name == "quadratic":
        return a - y
    if name == "cross_entropy":
        return (a - y) / (a * (1 - a))
    if name == "log_likelihood":
        return -y / a
    raise ValueError(name)


def output_delta(activation: str, cost: str, z: Array, a: Array, y: Array) -> Array:
    """δ_L = J_σ(z)ᵀ ∇_a C, row by row."""
    grad = cost_gradient(cost, a, y)
    if activation == "softmax":
        # J = diag(a) − a aᵀ (symmetric), so J g = a ⊙ (g − a·g).
        return a * (grad - (a * grad).sum(axis=1, keepdims=True))
    return grad * DERIVATIVES[activation](z)


def forward(
    layers: list[tuple[Array, Array]], activations: list[str], x: Array
) -> tuple[list[Array], list[Array]]:
    """z_l and a_l for l = 1 … L (a_0 = x is not included)."""
    zs, acts = [], []
    a = x
    for (w, b), name in zip(layers, activations, strict=True):
        z = a @ w.T + b
        a = ACTIVATIONS[name](z)
        zs.append(z)
        acts.append(a)
    return zs, acts


def mean_cost(
    layers: list[tuple[Array, Array]], activations: list[str], cost: str, x: Array, y: Array
) -> float:
    _, acts = forward(layers, activations, x)
    return float(cost_per_sample(cost, acts[-1], y).mean())


def finite_difference_gradients(
    layers: list[tuple[Array, Array]],
    activations: list[str],
    cost: str,
    x: Array,
    y: Array,
    eps: float = 1e-6,
) -> list[tuple[Array, Array]]:
    """Central differences `(C(θ+ε) − C(θ−ε)) / 2ε` of the mean cost, every parameter."""
    result = []
    for index, (w, b) in enumerate(layers):
        grads = []
        for param in (w, b):
            grad = np.zeros_like(param)
            for pos in np.ndindex(param.shape):
                saved = param[pos]
                param[pos] = saved + eps
                plus = mean_cost(layers, activations, cost, x, y)
                param[pos] = saved - eps
                minus = mean_cost(layers, activations, cost, x, y)
                param[pos] = saved
                grad[pos] = (plus - minus) / (2 * eps)
            grads.append(grad)
        result.append((grads[0], grads[1]))
        assert layers[index][0] is w  # parameters were restored in place
    return result
