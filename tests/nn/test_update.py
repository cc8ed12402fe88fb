"""One SGD + L2 step on a 2-2-1 network, computed by hand from docs/design.md §1."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from app.nn import Network, backprop_trace, blas, sgd_step, train
from app.nn.backprop import Backprop, with_ones

from .factories import blobs, config, spec

W1 = [[0.1, -0.2], [0.4, 0.3]]
B1 = [0.05, -0.1]
W2 = [[0.6, -0.5]]
B2 = [0.2]
X = [[1.0, 2.0], [-1.0, 0.5]]
Y = [1.0, 0.0]
ETA, LAMBDA = 0.5, 0.1


def sig(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def hand_update(
    cost: str, n: int
) -> tuple[list[list[float]], list[float], list[list[float]], list[float]]:
    """Per-sample backprop with scalars, then W ← (1 − ηλ/n) W − (η/m) Σ ∂C_x/∂W."""
    m = len(X)
    gw1 = [[0.0, 0.0], [0.0, 0.0]]
    gb1 = [0.0, 0.0]
    gw2 = [[0.0, 0.0]]
    gb2 = [0.0]
    for x, y in zip(X, Y, strict=True):
        z1 = [W1[j][0] * x[0] + W1[j][1] * x[1] + B1[j] for j in range(2)]
        a1 = [sig(z) for z in z1]
        z2 = W2[0][0] * a1[0] + W2[0][1] * a1[1] + B2[0]
        a2 = sig(z2)
        # cross-entropy: σ' cancels; quadratic: (a − y) ⊙ σ'(z)
        d2 = a2 - y if cost == "cross_entropy" else (a2 - y) * a2 * (1 - a2)
        d1 = [W2[0][j] * d2 * a1[j] * (1 - a1[j]) for j in range(2)]
        gb2[0] += d2
        for j in range(2):
            gw2[0][j] += d2 * a1[j]
            gb1[j] += d1[j]
            for k in range(2):
                gw1[j][k] += d1[j] * x[k]
    shrink = 1 - ETA * LAMBDA / n
    new_w1 = [[shrink * W1[j][k] - ETA / m * gw1[j][k] for k in range(2)] for j in range(2)]
    new_b1 = [B1[j] - ETA / m * gb1[j] for j in range(2)]
    new_w2 = [[shrink * W2[0][j] - ETA / m * gw2[0][j] for j in range(2)]]
    new_b2 = [B2[0] - ETA / m * gb2[0]]
    return new_w1, new_b1, new_w2, new_b2


def layers() -> list[dict[str, object]]:
    return [{"weights": W1, "biases": B1}, {"weights": W2, "biases": B2}]


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_training_loop_applies_the_design_update_exactly(cost: str) -> None:
    # the whole training set is one batch: m = n = 2, one epoch = one step
    result = train(
        spec([2, 2, 1], cost=cost),
        config(epochs=1, batch_size=2, learning_rate=ETA, l2=LAMBDA, shuffle=False),
        np.array(X),
        np.array(Y).reshape(-1, 1),
        initial_weights=layers(),
    )
    w1, b1, w2, b2 = hand_update(cost, n=2)
    got = result.network.to_document()["layers"]
    np.testing.assert_allclose(got[0]["weights"], w1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got[0]["biases"], b1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got[1]["weights"], w2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(got[1]["biases"], b2, rtol=0, atol=1e-15)


def test_the_update_descends() -> None:
    # the sign matters: a step lowers the cost (a "+" would climb it)
    net = Network.from_layers(spec([2, 2, 1]), layers())
    y = np.array(Y).reshape(-1, 1)
    after = sgd_step(net, backprop_trace(net, X, y), ETA)
    assert after.loss(X, y) < net.loss(X, y)


def test_inspection_sgd_step_matches_hand_numbers_with_a_larger_training_set() -> None:
    net = Network.from_layers(spec([2, 2, 1]), layers())
    trace = backprop_trace(net, X, np.array(Y).reshape(-1, 1))
    after = sgd_step(net, trace, ETA, l2=LAMBDA, n=10).to_document()["layers"]
    w1, b1, w2, b2 = hand_update("cross_entropy", n=10)
    np.testing.assert_allclose(after[0]["weights"], w1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(after[0]["biases"], b1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(after[1]["weights"], w2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(after[1]["biases"], b2, rtol=0, atol=1e-15)


@pytest.fixture(params=[True, False], ids=["direct-blas", "numpy"])
def blas_mode(request: pytest.FixtureRequest) -> Iterator[bool]:
    blas.set_direct(request.param)
    yield request.param
    blas.set_direct(True)


@pytest.mark.parametrize("l2", [0.0, LAMBDA])
def test_fused_sgd_steps_are_the_design_update(blas_mode: bool, l2: float) -> None:
    # Three batches of two in one epoch: the first two steps happen inside the gradient
    # products (Backprop.backward(descend=...)), the last one through SGD.update; each
    # must equal the textbook step of the inspection code (Nielsen orientation, n = 6).
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, (6, 3)), rng.random((6, 2))
    sp = spec([3, 4, 5, 2], cost="quadratic")
    start = Network.initialize(sp, seed=7)
    result = train(
        sp,
        config(epochs=1, batch_size=2, learning_rate=ETA, l2=l2, shuffle=False),
        x,
        y,
        initial_weights=start.to_document()["layers"],
    )
    net = start
    for s in range(0, 6, 2):
        net = sgd_step(net, backprop_trace(net, x[s : s + 2], y[s : s + 2]), ETA, l2=l2, n=6)
    for got, want in zip(result.network.params, net.params, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_fused_and_unfused_training_agree_in_float32() -> None:
    x, y = blobs(n=300, n_features=20, n_classes=4)
    sp = spec([20, 16, 4], cost="cross_entropy")
    cfg = config(epochs=4, batch_size=16, learning_rate=0.3, l2=0.5, dtype="float32")
    runs = []
    for direct in (True, False):
        blas.set_direct(direct)
        try:
            runs.append(train(sp, cfg, x, y))
        finally:
            blas.set_direct(True)
    for a, b in zip(runs[0].network.params, runs[1].network.params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert runs[0].metrics[-1].train_loss == pytest.approx(runs[1].metrics[-1].train_loss, rel=1e-4)


def test_a_fused_step_needs_the_batch_in_x_batch() -> None:
    net = Network.initialize(spec([2, 3, 1]), seed=0)
    bp = Backprop(net, 4)
    x1 = with_ones(np.zeros((4, 2)), "float64")  # not bp.x_batch
    outs = bp.forward(x1, np.empty((4, 1)))
    with pytest.raises(ValueError, match="fused SGD step needs the batch in Backprop.x_batch"):
        bp.backward(outs, np.zeros((4, 1)), 0.1, descend=1.0)
