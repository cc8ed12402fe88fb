"""Costs and activations against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.nn import ACTIVATIONS, COSTS


def test_cost_values_per_sample() -> None:
    a = np.array([[0.5, 0.25], [0.9, 0.1]])
    y = np.array([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(
        COSTS["quadratic"].fn(a, y), [0.5 * (0.25 + 0.0625), 0.5 * (0.01 + 0.01)]
    )
    np.testing.assert_allclose(
        COSTS["cross_entropy"].fn(a, y),
        [-math.log(0.5) - math.log(0.75), -math.log(0.9) - math.log(0.9)],
    )
    np.testing.assert_allclose(COSTS["log_likelihood"].fn(a, y), [-math.log(0.5), -math.log(0.9)])


def test_saturated_outputs_give_a_finite_cost() -> None:
    a = np.array([[1.0, 0.0]])
    y = np.array([[0.0, 1.0]])
    assert np.isfinite(COSTS["cross_entropy"].fn(a, y)).all()
    assert np.isnan(COSTS["cross_entropy"].fn(np.array([[np.nan, 0.5]]), y)).all()


@pytest.mark.parametrize(
    ("cost", "activation"),
    [
        ("cross_entropy", "sigmoid"),
        ("log_likelihood", "softmax"),
        ("quadratic", "identity"),
    ],
)
def test_canonical_pairs_give_a_minus_y(cost: str, activation: str) -> None:
    z = np.array([[0.3, -1.2, 2.0]])
    a = ACTIVATIONS[activation].fn(z.copy())
    y = np.array([[0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(COSTS[cost].delta(z, a, y, ACTIVATIONS[activation]), a - y)
    np.testing.assert_array_equal(COSTS[cost].delta(z, a, y), a - y)


@pytest.mark.parametrize(
    ("cost", "activation"),
    [
        ("quadratic", "sigmoid"),
        ("quadratic", "tanh"),
        ("quadratic", "softmax"),
        ("cross_entropy", "softmax"),
        ("quadratic", "relu"),
    ],
)
def test_general_delta_is_dC_dz(cost: str, activation: str) -> None:
    z = np.array([[0.3, -1.2, 2.0]])
    y = np.array([[0.0, 0.0, 1.0]])
    act, c = ACTIVATIONS[activation], COSTS[cost]
    delta = c.delta(z, act.fn(z.copy()), y, act)
    eps = 1e-6
    for j in range(3):
        dz = np.zeros_like(z)
        dz[0, j] = eps
        numeric = (c.fn(act.fn(z + dz), y) - c.fn(act.fn(z - dz), y))[0] / (2 * eps)
        assert delta[0, j] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_activations_in_place() -> None:
    z = np.array([[-800.0, 0.0, 800.0]])
    with np.errstate(over="raise"):
        a = ACTIVATIONS["sigmoid"].fn(z.copy())
    np.testing.assert_array_equal(a, [[0.0, 0.5, 1.0]])
    buf = np.array([[-1.0, 2.0]])
    out = ACTIVATIONS["relu"].fn(buf, out=buf)
    assert out is buf and buf.tolist() == [[0.0, 2.0]]
    soft = ACTIVATIONS["softmax"].fn(np.array([[1000.0, 1000.0]]))
    np.testing.assert_array_equal(soft, [[0.5, 0.5]])


@pytest.mark.parametrize("name", sorted(COSTS))
def test_epoch_loss_over_row_blocks_is_the_mean_of_fn(name: str) -> None:
    from app.nn.training import _METRIC_BLOCK_ELEMENTS, _mean_cost

    rng = np.random.default_rng(5)
    n = 3 * _METRIC_BLOCK_ELEMENTS // 4 + 5  # four blocks of 4 columns, the last one short
    a = rng.random((n, 4))
    a /= a.sum(axis=1, keepdims=True)  # rows of a softmax, valid for every cost
    y = np.eye(4)[rng.integers(0, 4, n)]
    cost = COSTS[name]
    assert _mean_cost(cost, a, y) == pytest.approx(float(cost.fn(a, y).mean()), rel=1e-13)
    np.testing.assert_array_equal(cost.terms(a, y).sum(axis=1), cost.fn(a, y))
