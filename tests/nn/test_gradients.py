"""Backprop's gradients against central finite differences, every allowed combination."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from app.nn import Network, backprop_trace, gradient_check, training_gradients
from app.nn.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from app.nn.costs import COSTS

from .factories import numeric_gradients, one_hot_batch, rel_error, spec


def allowed_output_costs() -> list[tuple[str, str]]:
    pairs = []
    for out, cost in itertools.product(OUTPUT_ACTIVATIONS, COSTS):
        requires = COSTS[cost].requires
        if requires is None or out in requires:
            pairs.append((out, cost))
    return pairs


CASES = [
    (hidden, out, cost, depth)
    for hidden in HIDDEN_ACTIVATIONS
    for out, cost in allowed_output_costs()
    for depth in (1, 2)
]


def test_every_allowed_pair_is_covered() -> None:
    # 5 outputs with quadratic, cross_entropy with sigmoid/softmax, log_likelihood+softmax
    assert len(allowed_output_costs()) == 8
    assert len(CASES) == 4 * 8 * 2


def informative_network(sizes: list[int], **kw: str) -> Network:
    """The first seeded network whose every layer has a gradient entry above 1e-3
    (a ReLU output can be dead for the whole batch, which would make the check vacuous)."""
    x, y = one_hot_batch(8, sizes[0], sizes[-1])
    for seed in range(50):
        net = Network.initialize(spec(sizes, **kw), seed=seed)
        grads, _ = training_gradients(net, x, y)
        if all(np.abs(g).max() > 1e-3 for g in grads):
            return net
    raise AssertionError("no informative network found")


@pytest.mark.parametrize(("hidden", "out", "cost", "depth"), CASES)
def test_backprop_matches_finite_differences(hidden: str, out: str, cost: str, depth: int) -> None:
    sizes = [3] + [4] * depth + [3]
    net = informative_network(sizes, hidden_activation=hidden, output_activation=out, cost=cost)
    x, y = one_hot_batch(8, 3, 3)
    # eps 1e-5: the round-off of the difference quotient is ~1e-11 (1e-10 at eps 1e-6)
    num_w, num_b = numeric_gradients(net, x, y, eps=1e-5)
    fast_w, fast_b = training_gradients(net, x, y)
    trace = backprop_trace(net, x, y)
    for layer in range(depth + 1):
        assert np.abs(num_w[layer]).max() > 1e-3  # the check is not vacuous
        for got in (fast_w[layer], trace.layers[layer].grad_weights):
            assert rel_error(num_w[layer], got) < 1e-6
        for got in (fast_b[layer], trace.layers[layer].grad_biases):
            assert rel_error(num_b[layer], got) < 1e-6


def test_gradient_check_reports_small_errors_and_catches_a_wrong_gradient(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = Network.initialize(
        spec([3, 4, 2], output_activation="softmax", cost="log_likelihood"), seed=3
    )
    x, y = one_hot_batch(6, 3, 2)
    checks = gradient_check(net, x, y)
    assert len(checks) == 2
    assert all(c.max_rel_error_weights < 1e-6 and c.max_rel_error_biases < 1e-6 for c in checks)
    # a backprop that forgets σ' in the hidden layer is caught
    from app.nn import activations

    monkeypatch.setattr(activations.Sigmoid, "backprop", lambda self, z, a, g: g)
    bad = gradient_check(net, x, y)
    assert bad[0].max_rel_error_weights > 1e-2


def test_float32_network_is_checked_in_float64() -> None:
    net = Network.initialize(spec([2, 3, 1]), seed=1, dtype="float32")
    x, y = one_hot_batch(4, 2, 2)
    checks = gradient_check(net, x, y[:, :1])
    assert checks[0].max_rel_error_weights < 1e-6
