"""Costs and activations against values worked out by hand (``math``, not the engine)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.nn import ACTIVATIONS, COSTS

SOFTMAX = ACTIVATIONS["softmax"]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_cost_values_per_sample() -> None:
    a = np.array([[0.5, 0.25], [0.9, 0.1]])
    y = np.array([[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(
        COSTS["quadratic"].fn(a, y), [0.5 * (0.25 + 0.0625), 0.5 * (0.01 + 0.01)], rtol=1e-15
    )
    np.testing.assert_allclose(
        COSTS["cross_entropy"].fn(a, y),
        [-math.log(0.5) - math.log(0.75), -math.log(0.9) - math.log(0.9)],
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        COSTS["log_likelihood"].fn(a, y), [-math.log(0.5), -math.log(0.9)], rtol=1e-15
    )


def test_terms_are_the_per_unit_costs() -> None:
    a = np.array([[0.5, 0.25], [0.9, 0.1]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(
        COSTS["cross_entropy"].terms(a, y),
        [[-math.log(0.5), -math.log(0.75)], [-math.log(0.1), -math.log(0.1)]],
        rtol=1e-15,
    )
    np.testing.assert_allclose(
        COSTS["quadratic"].terms(a, y), [[0.125, 0.03125], [0.405, 0.405]], rtol=1e-15
    )
    np.testing.assert_allclose(
        COSTS["log_likelihood"].terms(a, y), [[-math.log(0.5), 0.0], [0.0, -math.log(0.1)]]
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_outputs_rounded_to_0_or_1_cost_what_the_nearest_float_would(dtype: str) -> None:
    # ln of the largest float below 1 is ln(1 − 2^-p) for p the precision: the cost of a
    # wrong saturated output is −ln(2^-p) (p = 24 or 53); an output that underflowed to 0
    # costs −ln of the smallest positive float.
    p = np.finfo(dtype).nmant + 1
    smallest = float(np.nextafter(np.zeros((), dtype), np.ones((), dtype)))
    a = np.array([[1.0, 0.0]], dtype=dtype)
    y = np.array([[0.0, 1.0]], dtype=dtype)
    got = COSTS["cross_entropy"].terms(a, y)
    np.testing.assert_allclose(got, [[p * math.log(2), -math.log(smallest)]], rtol=1e-6)
    right = COSTS["cross_entropy"].terms(a, 1.0 - y)
    np.testing.assert_array_equal(right, [[0.0, 0.0]])  # no 0 · ln 0 = nan
    assert np.isnan(COSTS["cross_entropy"].fn(np.array([[np.nan, 0.5]]), y)).all()


def test_small_outputs_are_not_clipped() -> None:
    # σ(−50) ≈ 1.93e-22 is far below the machine epsilon: its log is still exact.
    a = np.array([[_sigmoid(-50.0)]])
    assert COSTS["cross_entropy"].fn(a, np.array([[1.0]]))[0] == pytest.approx(
        50.0 + math.log1p(math.exp(-50.0)), rel=1e-15
    )
    assert COSTS["log_likelihood"].fn(np.array([[1.0, 1e-30]]), np.array([[0.0, 1.0]]))[
        0
    ] == pytest.approx(30 * math.log(10), rel=1e-15)


def test_softmax_terms_take_1_minus_a_from_the_other_units() -> None:
    a = np.array([[1.0, 1e-20, 2e-20]])  # a softmax row whose top output rounded to 1
    y = np.array([[0.0, 1.0, 0.0]])
    terms = COSTS["cross_entropy"].terms(a, y, activation=SOFTMAX)
    # −ln(1 − a_1) = −ln(3e-20), −ln a_2 = −ln(1e-20), −ln(1 − a_3) = 2e-20
    np.testing.assert_allclose(terms, [[-math.log(3e-20), -math.log(1e-20), 2e-20]], rtol=1e-14)
    d = COSTS["quadratic"].terms(
        np.array([[1.0, 1e-20]]), np.array([[1.0, 0.0]]), activation=SOFTMAX
    )
    np.testing.assert_allclose(d, [[0.5e-40, 0.5e-40]], rtol=1e-14)


@pytest.mark.parametrize(
    ("z", "y", "expected"),
    [
        (50.0, 0.0, 50.0 + math.exp(-50.0)),  # softplus(50) = 50 + ln(1 + e^-50)
        (50.0, 1.0, math.exp(-50.0)),
        (-50.0, 1.0, 50.0 + math.exp(-50.0)),
        (-50.0, 0.0, math.exp(-50.0)),
        (0.0, 1.0, math.log(2.0)),
        (-800.0, 1.0, 800.0),
    ],
)
def test_sigmoid_cross_entropy_from_z(z: float, y: float, expected: float) -> None:
    got = COSTS["cross_entropy"].fn_z(np.array([[z]]), np.array([[y]]), ACTIVATIONS["sigmoid"])
    assert got[0] == pytest.approx(expected, rel=1e-15)


def test_softmax_costs_from_z_are_log_sum_exp() -> None:
    z = np.array([[0.0, -45.0], [30.0, 0.0], [-30.0, 30.0], [1.0, 2.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    # −ln a_c = ln Σ e^{z_j} − z_c; for two units ln(1 − a_j) = ln a_{other}
    lse = [math.log1p(math.exp(-45.0)), 30 + math.log1p(math.exp(-30.0)),
           30 + math.log1p(math.exp(-60.0)), 2 + math.log1p(math.exp(-1.0))]  # fmt: skip
    ll = [lse[0] - 0.0, lse[1] - 0.0, lse[2] + 30.0, lse[3] - 2.0]
    np.testing.assert_allclose(COSTS["log_likelihood"].fn_z(z, y, SOFTMAX), ll, rtol=1e-15)
    np.testing.assert_allclose(COSTS["cross_entropy"].fn_z(z, y, SOFTMAX), [2 * v for v in ll])


def test_delta_at_the_logits_the_audit_measured() -> None:
    """Softmax + cross-entropy, two units: δ = (a − y) · 2 (the per-unit costs are the same
    function twice), so δ at (30, 0) with target (0, 1) is 2·(σ(30), −σ(30))."""
    z = np.array([[30.0, 0.0], [-30.0, 30.0], [0.0, -45.0]])
    y = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    a = SOFTMAX.fn(z.copy())
    got = COSTS["cross_entropy"].delta(z, a, y, SOFTMAX)
    s30, s60, s45 = _sigmoid(30.0), _sigmoid(-60.0), _sigmoid(-45.0)
    expected = [[2 * s30, -2 * s30], [2 * s60, -2 * s60], [-2 * s45, 2 * s45]]
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    # the same from the outputs alone (the training loop's path)
    np.testing.assert_allclose(COSTS["cross_entropy"].delta(None, a, y, SOFTMAX), expected, 1e-15)


@pytest.mark.parametrize(
    ("cost", "activation"),
    [("cross_entropy", "sigmoid"), ("log_likelihood", "softmax"), ("quadratic", "identity")],
)
def test_canonical_pairs_give_a_minus_y(cost: str, activation: str) -> None:
    z = np.array([[0.3, -1.2, 2.0]])
    y = np.array([[0.0, 0.0, 1.0]])
    if activation == "sigmoid":
        a = [_sigmoid(v) for v in z[0]]
    elif activation == "softmax":
        e = [math.exp(v) for v in z[0]]
        a = [v / math.fsum(e) for v in e]
    else:
        a = list(z[0])
    expected = [[aj - yj for aj, yj in zip(a, y[0], strict=True)]]
    act = ACTIVATIONS[activation]
    out = act.fn(z.copy())
    np.testing.assert_allclose(COSTS[cost].delta(z, out, y, act), expected, rtol=1e-14)
    np.testing.assert_allclose(COSTS[cost].delta(z, out, y), expected, rtol=1e-14)
    np.testing.assert_allclose(COSTS[cost].delta(None, out, y), expected, rtol=1e-14)


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
    """δ against central differences of a cost written out with ``math``."""
    z = [0.3, -1.2, 2.0]
    y = [0.0, 0.0, 1.0]

    def c(zs: list[float]) -> float:
        if activation == "softmax":
            e = [math.exp(v) for v in zs]
            a = [v / math.fsum(e) for v in e]
        else:
            fn = {"sigmoid": _sigmoid, "tanh": math.tanh, "relu": lambda v: max(v, 0.0)}
            a = [fn[activation](v) for v in zs]
        if cost == "quadratic":
            return 0.5 * math.fsum((aj - yj) ** 2 for aj, yj in zip(a, y, strict=True))
        return -math.fsum(
            yj * math.log(aj) + (1 - yj) * math.log(1 - aj) for aj, yj in zip(a, y, strict=True)
        )

    act = ACTIVATIONS[activation]
    zz = np.array([z])
    delta = COSTS[cost].delta(zz, act.fn(zz.copy()), np.array([y]), act)
    delta_a = COSTS[cost].delta(None, act.fn(zz.copy()), np.array([y]), act)
    h = 1e-6
    for j in range(3):
        up, down = list(z), list(z)
        up[j] += h
        down[j] -= h
        numeric = (c(up) - c(down)) / (2 * h)
        assert delta[0, j] == pytest.approx(numeric, rel=1e-7, abs=1e-9)
        assert delta_a[0, j] == pytest.approx(numeric, rel=1e-7, abs=1e-9)


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
def test_epoch_loss_over_row_blocks_is_the_mean_cost(name: str) -> None:
    """``_mean_cost`` (the epoch's loss, summed in row blocks) against the mean per-sample
    cost written out with ``math`` for every row."""
    from app.nn.training import _METRIC_BLOCK_ELEMENTS, _mean_cost

    rng = np.random.default_rng(5)
    n = 3 * _METRIC_BLOCK_ELEMENTS // 4 + 5  # four blocks of 4 columns, the last one short
    a = rng.random((n, 4)) + 0.01
    a /= a.sum(axis=1, keepdims=True)  # rows of a softmax, valid for every cost
    labels = rng.integers(0, 4, n)
    y = np.eye(4)[labels]
    rows = a.tolist()
    if name == "quadratic":
        per_row = [0.5 * math.fsum((v - (j == c)) ** 2 for j, v in enumerate(r))
                   for r, c in zip(rows, labels, strict=True)]  # fmt: skip
    elif name == "log_likelihood":
        per_row = [-math.log(r[c]) for r, c in zip(rows, labels, strict=True)]
    else:
        per_row = [-math.fsum(math.log(v) if j == c else math.log1p(-v) for j, v in enumerate(r))
                   for r, c in zip(rows, labels, strict=True)]  # fmt: skip
    softmax = ACTIVATIONS["softmax"]
    mean = _mean_cost(COSTS[name], a, y, softmax)
    assert mean == pytest.approx(math.fsum(per_row) / n, rel=1e-12)
