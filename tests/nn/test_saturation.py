"""Every output activation x cost pair the service accepts, at saturation (|z| up to 50).

The network is 2-2-k with a relu hidden layer and weights chosen so that every
pre-activation is exact in float32 and float64 (small dyadic numbers), which makes the
exact values of the cost, δ and the gradients at those parameters well defined in both
dtypes. They come from ``saturation_reference`` (200-digit decimal arithmetic, central
differences, none of the engine's formulas) and are compared element by element:
``|x − exact| ≤ 1e-6 |exact| + tiny`` with ``tiny`` the dtype's smallest normal number
(an exact value below it is not representable to 1e-6 anyway).

The output logits of the five samples include (50, −50), (−50, 5), (0, −45), (0, −22.5)
and (31.25, −31.25) (and a third unit for 3-way softmax); the targets are either the ones the
saturated outputs predict ("right") or the opposite ones ("wrong").
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import numpy as np
import pytest

from app.nn import (
    COSTS,
    DivergenceError,
    Network,
    NetworkSpec,
    TrainingConfig,
    backprop_trace,
    gradient_check,
    train,
    training_gradients,
)
from app.nn.activations import OUTPUT_ACTIVATIONS
from app.nn.inspect import REL_ERROR_FLOOR
from tests.nn import saturation_reference as ref

#: (output activation, cost, output units): every pair the service accepts; softmax
#: also with three units (its general, not only two-class, closed forms).
PAIRS = [
    ("sigmoid", "quadratic", 2),
    ("tanh", "quadratic", 2),
    ("relu", "quadratic", 2),
    ("identity", "quadratic", 2),
    ("softmax", "quadratic", 2),
    ("softmax", "quadratic", 3),
    ("sigmoid", "cross_entropy", 2),
    ("softmax", "cross_entropy", 2),
    ("softmax", "cross_entropy", 3),
    ("softmax", "log_likelihood", 2),
    ("softmax", "log_likelihood", 3),
]
DTYPES = ["float32", "float64"]
TARGETS = ["right", "wrong"]

#: The relu hidden layer (bias −¼) passes 1.25 as 1 and 0.75 as ½ and stops 0 (no
#: pre-activation sits on relu's kink at 0, where a central difference would halve σ').
#: Inputs are ≥ 0 so that the weight gradients, sums over the samples, do not cancel to
#: below float32's resolution (that would be the sum's conditioning, not saturation).
X = [[1.25, 0.0], [0.0, 1.25], [1.25, 1.25], [0.75, 0.75], [0.875, 0.0]]
W1 = [[1.0, 0.0], [0.0, 1.0]]
B1 = [-0.25, -0.25]
W2 = [[50.0, -50.0], [-50.0, 5.0], [10.0, 20.0]]


def _b2(act: str) -> list[float]:
    """Output biases: 0, but a quarter for a relu output (off its kink at z = 0)."""
    return [0.25 if act == "relu" else 0.0] * 3


def test_the_pairs_are_every_pair_the_service_accepts() -> None:
    accepted = {
        (act, name)
        for name, cost in COSTS.items()
        for act in OUTPUT_ACTIVATIONS
        if cost.requires is None or act in cost.requires
    }
    assert accepted == {(act, cost) for act, cost, _ in PAIRS}


def _targets(act: str, z: list[float], which: str) -> list[float]:
    """Targets the saturated outputs predict ("right") or contradict ("wrong")."""
    right = which == "right"
    if act == "softmax":
        k = int(np.argmax(z)) if right else int(np.argmin(z))
        return [1.0 if j == k else 0.0 for j in range(len(z))]
    if act == "sigmoid":
        return [float((v >= 0) == right) for v in z]
    if act == "tanh":
        return [(1.0 if v >= 0 else -1.0) * (1.0 if right else -1.0) for v in z]
    if act == "relu":
        return [max(v, 0.0) if right else (0.0 if v > 0 else 3.0) for v in z]
    return [v if right else -v for v in z]  # identity


def _logits(act: str, k: int) -> np.ndarray:
    """z_L of the samples: exact (dyadic) in float32 and float64."""
    hidden = np.maximum(np.array(X) @ np.array(W1).T + B1, 0.0)
    return hidden @ np.array(W2[:k]).T + _b2(act)[:k]


def _case(act: str, cost: str, k: int, which: str) -> tuple[dict[str, Any], list[list[float]]]:
    layers = [
        {"weights": W1, "biases": B1},
        {"weights": W2[:k], "biases": _b2(act)[:k]},
    ]
    logits = _logits(act, k).tolist()
    ys = [_targets(act, z, which) for z in logits]
    return {"layers": layers, "act": act, "cost": cost}, ys


@cache
def _exact(act: str, cost: str, k: int, which: str) -> dict[str, Any]:
    case, ys = _case(act, cost, k, which)
    net = ref.Net(
        [layer["weights"] for layer in case["layers"]],
        [layer["biases"] for layer in case["layers"]],
        ["relu", act],
        cost,
    )
    gw, gb = net.gradients(X, ys)
    return {
        "y": ys,
        "cost": net.mean_cost(X, ys),
        "deltas": [net.deltas(x, y) for x, y in zip(X, ys, strict=True)],
        "grad_w": gw,
        "grad_b": gb,
    }


def _engine_net(act: str, cost: str, k: int, which: str, dtype: str) -> Network:
    case, _ = _case(act, cost, k, which)
    spec = NetworkSpec(sizes=[2, 2, k], hidden_activation="relu", output_activation=act, cost=cost)
    return Network.from_layers(spec, case["layers"], dtype)


def _float(values: Any) -> np.ndarray:
    return np.array(values, dtype=object).astype(np.float64)


def _assert_exact(got: Any, exact: Any, dtype: str, what: str) -> None:
    """``|got − exact| ≤ 1e-6 |exact| + tiny`` elementwise, compared in Decimal so that
    float64 rounding of the exact value does not enter."""
    got_arr = np.asarray(got, dtype=np.float64)
    exact_arr = np.array(exact, dtype=object)
    assert got_arr.shape == exact_arr.shape, what
    assert np.isfinite(got_arr).all(), f"{what}: not finite: {got_arr}"
    tiny = Decimal(float(np.finfo(dtype).tiny))
    for idx in np.ndindex(got_arr.shape):
        g, e = Decimal(float(got_arr[idx])), exact_arr[idx]
        assert abs(g - e) <= Decimal("1e-6") * abs(e) + tiny, (
            f"{what}{list(idx)}: {float(g)!r}, exact {float(e)!r}"
        )


PARAMS = [
    pytest.param(act, cost, k, which, dtype, id=f"{act}-{cost}-{k}-{which}-{dtype}")
    for act, cost, k in PAIRS
    for which in TARGETS
    for dtype in DTYPES
]


@pytest.mark.parametrize(("act", "cost", "k", "which", "dtype"), PARAMS)
def test_backprop_trace_is_exact(act: str, cost: str, k: int, which: str, dtype: str) -> None:
    exact = _exact(act, cost, k, which)
    net = _engine_net(act, cost, k, which, dtype)
    trace = backprop_trace(net, X, exact["y"])
    _assert_exact(trace.cost, exact["cost"], dtype, "cost")
    for layer in range(2):
        _assert_exact(
            trace.layers[layer].delta, [d[layer] for d in exact["deltas"]], dtype, f"δ_{layer + 1}"
        )
        _assert_exact(trace.layers[layer].grad_weights, exact["grad_w"][layer], dtype, "∂C/∂W")
        _assert_exact(trace.layers[layer].grad_biases, exact["grad_b"][layer], dtype, "∂C/∂b")


@pytest.mark.parametrize(("act", "cost", "k", "which", "dtype"), PARAMS)
def test_cost_delta_and_loss_from_z(act: str, cost: str, k: int, which: str, dtype: str) -> None:
    exact = _exact(act, cost, k, which)
    net = _engine_net(act, cost, k, which, dtype)
    assert net.loss(X, exact["y"]) == pytest.approx(float(exact["cost"]), rel=1e-6)
    z = _logits(act, k).astype(dtype)
    y = np.array(exact["y"], dtype=dtype)
    out = net.layer_activation_objects[-1]
    delta = net.cost_object.delta(z, out.fn(z.copy()), y, out)
    assert delta.dtype == np.dtype(dtype)
    _assert_exact(delta, [d[1] for d in exact["deltas"]], dtype, "δ_L")


@pytest.mark.parametrize(("act", "cost", "k", "which", "dtype"), PARAMS)
def test_gradient_check_is_exact(act: str, cost: str, k: int, which: str, dtype: str) -> None:
    """Central differences of ``Network.loss`` (float64, step 1e-6) carry ~1e-10 of its
    round-off per unit of cost: that is their accuracy; backprop agrees to 1e-6."""
    exact = _exact(act, cost, k, which)
    checks = gradient_check(_engine_net(act, cost, k, which, dtype), X, exact["y"])
    slack = 1e-8 * max(1.0, float(exact["cost"]))
    for layer, check in enumerate(checks):
        worst = max(check.max_rel_error_weights, check.max_rel_error_biases)
        assert worst <= 1e-6 + slack / REL_ERROR_FLOOR
        for got, want in ((check.numeric_weights, exact["grad_w"][layer]),
                          (check.numeric_biases, exact["grad_b"][layer])):  # fmt: skip
            np.testing.assert_allclose(got, _float(want), rtol=1e-6, atol=slack)


#: The training loop's output error comes from the outputs a alone (z is overwritten):
#: an output that rounded to 0 or 1 (σ(50) in either dtype) has lost σ(−z), so there
#: δ is right to the rounding of a, not relatively. Softmax outputs keep the others'
#: values, so the non-canonical softmax pairs are held to the exact tolerance.
A_EXACT = {("softmax", "quadratic"), ("softmax", "cross_entropy")}


@pytest.mark.parametrize(("act", "cost", "k", "which", "dtype"), PARAMS)
def test_training_gradients_at_saturation(
    act: str, cost: str, k: int, which: str, dtype: str
) -> None:
    exact = _exact(act, cost, k, which)
    net = _engine_net(act, cost, k, which, dtype)
    gw, gb = training_gradients(net, np.array(X), np.array(exact["y"]))
    for layer in range(2):
        if (act, cost) in A_EXACT:
            _assert_exact(gw[layer], exact["grad_w"][layer], dtype, "∂C/∂W")
            _assert_exact(gb[layer], exact["grad_b"][layer], dtype, "∂C/∂b")
        else:
            scale = 64 * float(np.finfo(dtype).eps) * 50  # δ_L to a's rounding, times |W|
            np.testing.assert_allclose(gw[layer], _float(exact["grad_w"][layer]), 1e-6, scale)
            np.testing.assert_allclose(gb[layer], _float(exact["grad_b"][layer]), 1e-6, scale)


@pytest.mark.parametrize(("act", "cost", "k", "which", "dtype"), PARAMS)
def test_training_from_saturated_weights_does_not_diverge(
    act: str, cost: str, k: int, which: str, dtype: str
) -> None:
    """One full-batch SGD step from the saturated weights is ``W − η ∂C/∂W`` with the
    exact gradient, and the epoch's loss is finite (a training job reports no divergence)."""
    exact = _exact(act, cost, k, which)
    case, _ = _case(act, cost, k, which)
    spec = NetworkSpec(sizes=[2, 2, k], hidden_activation="relu", output_activation=act, cost=cost)
    eta = 0.125
    config = TrainingConfig(
        epochs=1, batch_size=len(X), learning_rate=eta, shuffle=False, dtype=dtype, seed=0
    )
    task = "classification" if act in ("sigmoid", "softmax") else "regression"
    try:
        result = train(spec, config, X, exact["y"], task=task, initial_weights=case["layers"])
    except DivergenceError as exc:  # pragma: no cover - the defect this guards
        pytest.fail(f"training reported divergence: {exc}")
    metrics = result.metrics[0]
    assert np.isfinite(metrics.train_loss)
    # The loss metric is computed from the outputs (see Cost.terms): never above the
    # exact cost, where an output rounded to 0 or 1 it can be below.
    assert metrics.train_loss <= float(exact["cost"]) * (1 + 1e-6) + 1e-6
    atol = 64 * float(np.finfo(dtype).eps) * 50
    for layer, (w, b) in enumerate(zip(result.network.weights, result.network.biases, strict=True)):
        w0 = np.array(case["layers"][layer]["weights"])
        b0 = np.array(case["layers"][layer]["biases"])
        np.testing.assert_allclose(w, w0 - eta * _float(exact["grad_w"][layer]), 1e-6, atol)
        np.testing.assert_allclose(b, b0 - eta * _float(exact["grad_b"][layer]), 1e-6, atol)
