"""Momentum, Nesterov, Adam and SGD, with and without L2, against a reference written
from the formulas (tests/nn/optimizer_reference.py): several epochs of short and full
mini-batches with a validation split, so that L2's n (the training split) differs from
the number of samples and every optimizer state carries over many steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from app.nn import NetworkSpec, TrainingConfig, train
from tests.nn import optimizer_reference as ref

N_SAMPLES = 23  # validation 5 (round(23 * 0.2)), training 18: batches 4, 4, 4, 4, 2
SIZES = [3, 4, 2]

CASES = [
    pytest.param({"optimizer": "sgd", "learning_rate": 0.5}, id="sgd"),
    pytest.param({"optimizer": "momentum", "learning_rate": 0.2, "momentum": 0.9}, id="momentum"),
    pytest.param(
        {"optimizer": "momentum", "learning_rate": 0.2, "momentum": 0.9, "nesterov": True},
        id="nesterov",
    ),
    pytest.param(
        {"optimizer": "adam", "learning_rate": 0.05, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-4},
        id="adam",
    ),
]


def _data() -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (N_SAMPLES, SIZES[0]))
    y = (rng.random((N_SAMPLES, SIZES[-1])) < 0.5).astype(np.float64)
    layers = [
        {"weights": rng.normal(0, 0.7, (n_out, n_in)), "biases": rng.normal(0, 0.7, n_out)}
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    return x, y, layers


@pytest.mark.parametrize("l2", [0.0, 3.0])
@pytest.mark.parametrize("settings", CASES)
def test_training_follows_the_reference(settings: dict[str, Any], l2: float) -> None:
    x, y, layers = _data()
    common = {"epochs": 3, "batch_size": 4, "validation_fraction": 0.2, "seed": 11, "l2": l2}
    result = train(
        NetworkSpec(sizes=SIZES, hidden_activation="sigmoid", output_activation="sigmoid"),
        TrainingConfig(**common, **settings),
        x,
        y,
        initial_weights=layers,
    )
    assert len(result.metrics) == 3 and result.metrics[0].validation_loss is not None
    want_w, want_b = ref.train(
        ref.Settings(**common, **settings),
        [layer["weights"] for layer in layers],
        [layer["biases"] for layer in layers],
        x,
        y,
    )
    for got, want in zip(result.network.weights, want_w, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for got, want in zip(result.network.biases, want_b, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    moved = [
        np.abs(g - layer["weights"]).max()
        for g, layer in zip(result.network.weights, layers, strict=True)
    ]
    assert min(moved) > 1e-3  # the steps are not negligible


def test_the_reference_split_is_the_engines() -> None:
    """The reference's training rows are the ones the engine trains on: its loss on them
    is the engine's first reported train loss before any step (epochs of lr ~ 0)."""
    x, y, layers = _data()
    rows = ref.split(N_SAMPLES, 0.2, 11)
    assert len(rows) == 18
    result = train(
        NetworkSpec(sizes=SIZES, hidden_activation="sigmoid", output_activation="sigmoid"),
        TrainingConfig(
            epochs=1, batch_size=18, learning_rate=1e-300, validation_fraction=0.2, seed=11
        ),
        x,
        y,
        initial_weights=layers,
    )
    ws = [layer["weights"] for layer in layers]
    bs = [layer["biases"].reshape(-1, 1) for layer in layers]

    def loss(xs: np.ndarray, ys: np.ndarray) -> float:
        a = xs.T
        for w, b in zip(ws, bs, strict=True):
            a = 1 / (1 + np.exp(-(w @ a + b)))
        return float(np.mean(-np.sum(ys.T * np.log(a) + (1 - ys.T) * np.log(1 - a), axis=0)))

    val = np.setdiff1d(np.arange(N_SAMPLES), rows)
    assert result.metrics[0].train_loss == pytest.approx(loss(x[rows], y[rows]), rel=1e-12)
    assert result.metrics[0].validation_loss == pytest.approx(loss(x[val], y[val]), rel=1e-12)
