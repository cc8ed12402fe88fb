"""Looking inside one forward/backward pass (used by ``POST /v1/backprop``).

This is the textbook algorithm written out plainly, layer by layer, keeping every
``z_l`` and ``δ_l`` (the training loop's fast path in ``backprop`` overwrites them): it
doubles as an independent check of the training code. Everything is reported in
Nielsen's orientation: ``grad_weights`` is ``(n_l, n_{l-1})``, means over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from app.nn.activations import Array
from app.nn.network import Network

#: Denominator floor of the relative error: gradients smaller than this are compared
#: in absolute terms (central differences carry ~1e-10 of round-off for eps = 1e-6).
REL_ERROR_FLOOR = 1e-4


@dataclass
class LayerTrace:
    """One layer of a traced pass; ``z``/``activation``/``delta`` have a row per sample."""

    z: Array
    activation: Array
    delta: Array
    grad_weights: Array
    grad_biases: Array
    activation_name: str = ""


@dataclass
class Trace:
    cost: float
    layers: list[LayerTrace]


@dataclass
class LayerCheck:
    """Central finite differences vs backprop for one layer.

    ``max_rel_error_*`` is ``max |num − bp| / max(|num|, |bp|, REL_ERROR_FLOOR)``.
    """

    max_rel_error_weights: float
    max_rel_error_biases: float
    numeric_weights: Array | None = None
    numeric_biases: Array | None = None


def _as_batch(net: Network, x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
    x = np.asarray(x, dtype=net.dtype)
    y = np.asarray(y, dtype=net.dtype)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if y.ndim == 1:
        y = y.reshape(x.shape[0], -1) if y.size == x.shape[0] * net.sizes[-1] else y.reshape(1, -1)
    return x, y


def backprop_trace(net: Network, x: ArrayLike, y: ArrayLike) -> Trace:
    """One forward and backward pass over (x, y): z, a, δ and mean gradients per layer."""
    x, y = _as_batch(net, x, y)
    m = x.shape[0]
    acts = net.layer_activation_objects
    weights = net.weights  # Nielsen orientation (n_l, n_{l-1})
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        a_list, z_list = [x], []
        for w, b, act in zip(weights, net.biases, acts, strict=True):
            z = a_list[-1] @ w.T + b  # z_l = W_l a_{l-1} + b_l, one row per sample
            z_list.append(z)
            a_list.append(act.fn(z.copy()))
        cost = net.cost_object
        deltas = [cost.delta(z_list[-1], a_list[-1], y, acts[-1])]
        for i in range(len(weights) - 2, -1, -1):
            # δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ σ_l'(z_l), rows are samples
            back = deltas[0] @ weights[i + 1]
            deltas.insert(0, acts[i].backprop(z_list[i], a_list[i + 1], back))
        total = float(np.mean(cost.fn_z(z_list[-1], y, acts[-1])))
    layers = [
        LayerTrace(
            z=z_list[i],
            activation=a_list[i + 1],
            delta=deltas[i],
            grad_weights=deltas[i].T @ a_list[i] / m,  # mean of δ_l a_{l-1}ᵀ
            grad_biases=deltas[i].mean(axis=0),
            activation_name=net.activations[i],
        )
        for i in range(len(weights))
    ]
    return Trace(cost=total, layers=layers)


def gradient_check(net: Network, x: ArrayLike, y: ArrayLike, eps: float = 1e-6) -> list[LayerCheck]:
    """Compare backprop's gradients with central finite differences, in float64.

    Each parameter θ is nudged to θ ± eps and ``(C(θ+eps) − C(θ−eps)) / 2eps`` is
    compared with the backprop gradient of the mean cost. 2 forward passes per
    parameter: meant for small networks.
    """
    net64 = net.astype("float64")
    x, y = _as_batch(net64, x, y)
    trace = backprop_trace(net64, x, y)
    checks = []
    for i, layer in enumerate(trace.layers):
        num_w = _numeric(net64, net64.wt[i], x, y, eps).T
        num_b = _numeric(net64, net64.biases[i], x, y, eps)
        checks.append(
            LayerCheck(
                max_rel_error_weights=relative_error(num_w, layer.grad_weights),
                max_rel_error_biases=relative_error(num_b, layer.grad_biases),
                numeric_weights=num_w,
                numeric_biases=num_b,
            )
        )
    return checks


def _numeric(net: Network, param: Array, x: Array, y: Array, eps: float) -> Array:
    grad = np.empty_like(param)
    flat, gflat = param.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = net.loss(x, y)
        flat[i] = old - eps
        minus = net.loss(x, y)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: ArrayLike, b: ArrayLike) -> float:
    """``max |a − b| / max(|a|, |b|, REL_ERROR_FLOOR)`` elementwise (0.0 when empty)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    denom = np.maximum(np.maximum(np.abs(a), np.abs(b)), REL_ERROR_FLOOR)
    return float(np.max(np.abs(a - b) / denom))


def sgd_step(
    net: Network, trace: Trace, learning_rate: float, l2: float = 0.0, n: int | None = None
) -> Network:
    """One gradient-descent step of docs/design.md §1 from a trace; returns a new network.

    ``W ← (1 − ηλ/n) W − η ∂C/∂W`` and ``b ← b − η ∂C/∂b`` with the trace's batch-mean
    gradients (that is, ``(η/m) Σ_x``); ``n`` defaults to the trace's batch size.
    """
    m = trace.layers[0].z.shape[0]
    n = m if n is None else n
    shrink = 1.0 - learning_rate * l2 / n
    layers = [
        {
            "weights": shrink * w - learning_rate * lt.grad_weights,
            "biases": b - learning_rate * lt.grad_biases,
        }
        for w, b, lt in zip(net.weights, net.biases, trace.layers, strict=True)
    ]
    return Network.from_layers(net.spec, layers, net.dtype)
