"""Factories for specs, data sets and networks used across the engine tests (tests/nn);
those shared with the rest of the suite are in ``tests.helpers``."""

from __future__ import annotations

import numpy as np

from app.nn import Network, NetworkSpec, TrainingConfig
from tests.helpers import XOR_INPUTS, XOR_TARGETS


def spec(sizes: list[int] | None = None, **kw: object) -> NetworkSpec:
    return NetworkSpec(sizes=sizes or [2, 3, 1], **kw)  # type: ignore[arg-type]


def config(**kw: object) -> TrainingConfig:
    base: dict[str, object] = {"epochs": 3, "batch_size": 4, "learning_rate": 0.5}
    base.update(kw)
    return TrainingConfig(**base)  # type: ignore[arg-type]


def xor() -> tuple[np.ndarray, np.ndarray]:
    """The XOR truth table, a fresh copy (inputs, targets) per call."""
    return XOR_INPUTS.copy(), XOR_TARGETS.copy()


def blobs(
    n: int = 120, n_features: int = 4, n_classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs with one-hot targets (a learnable classification set)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (n_classes, n_features))
    labels = rng.integers(0, n_classes, n)
    x = centers[labels] + rng.normal(0, 0.7, (n, n_features))
    return x, np.eye(n_classes)[labels]


def one_hot_batch(m: int, n_in: int, n_out: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (m, n_in)), np.eye(n_out)[rng.integers(0, n_out, m)]


def numeric_gradients(
    net: Network, x: np.ndarray, y: np.ndarray, eps: float = 1e-6
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Central finite differences of the mean cost, written independently of the engine's
    own gradient_check: (dC/dW (n_l, n_{l-1}), dC/db) per layer."""
    grads_w: list[np.ndarray] = []
    grads_b: list[np.ndarray] = []
    for w, b in zip(net.weights, net.biases, strict=True):
        for param, out in ((w, grads_w), (b, grads_b)):
            g = np.zeros(param.shape)
            for idx in np.ndindex(param.shape):
                old = param[idx]
                param[idx] = old + eps
                plus = net.loss(x, y)
                param[idx] = old - eps
                minus = net.loss(x, y)
                param[idx] = old
                g[idx] = (plus - minus) / (2 * eps)
            out.append(g)
    return grads_w, grads_b


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-4) -> float:
    """max |a − b| / max(|a|, |b|, floor): relative, absolute below ``floor``."""
    denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)
    return float(np.max(np.abs(a - b) / denom))
