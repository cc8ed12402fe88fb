"""The vectorised forward/backward pass used by training, on preallocated buffers.

One mini-batch is a handful of matrix products. Rows are samples and every layer's
parameters are one array ``P_l = [Wᵀ_l; b_l]`` (see ``Network.params``); each layer's
input carries an extra column of ones, so:

- forward: ``A_l = σ_l([A_{l-1}, 1] P_l)`` — one product, the bias included;
- backward: ``Δ_L`` from the cost, ``Δ_l = (Δ_{l+1} W_{l+1}) ⊙ σ_l'(z_l)``;
- gradient sums: ``Σ_x ∂C_x/∂P_l = [A_{l-1}, 1]ᵀ Δ_l`` — one product gives
  ``Σ_x δ_l a_{l-1}ᵀ`` (transposed) and, in its last row, ``Σ_x δ_l``.

Activations are applied in place (every activation's derivative is computed from its
output, see ``activations``), and every intermediate lives in a buffer allocated once
for the largest batch, so a training step allocates nothing (a naive loop at batch 10
spends much of its time in page faults).
"""

from __future__ import annotations

import numpy as np

from app.nn.activations import Array
from app.nn.network import Network


def with_ones(x: Array, dtype: str) -> Array:
    """``[x, 1]``: x (m, n) with a column of ones appended, C-contiguous, in ``dtype``."""
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=dtype)
    out[:, :-1] = x
    out[:, -1] = 1.0
    return out


class Backprop:
    """Buffers and the forward/backward pass for batches of up to ``max_rows`` rows."""

    def __init__(self, net: Network, max_rows: int) -> None:
        self.net = net
        self.max_rows = max_rows
        dt = net.dtype
        sizes = net.sizes
        self.params = net.params
        self.acts = net.layer_activation_objects
        self.cost = net.cost_object
        self.canonical = self.cost.canonical == self.acts[-1].name
        #: [A_l, 1] for the hidden layers l = 1..L-1 (the ones column is never written).
        self.a_buf = [np.ones((max_rows, n + 1), dtype=dt) for n in sizes[1:-1]]
        self.d_buf = [np.empty((max_rows, n), dtype=dt) for n in sizes[1:]]
        self.t_buf = [np.empty((max_rows, n), dtype=dt) for n in sizes[1:]]
        #: W_l as a view into P_l (for Δ_{l-1} = Δ_l W_l); valid while P_l is updated in place.
        self.w_back = [p[:-1].T for p in self.params]
        #: Gradient sums Σ_x ∂C_x/∂P_l, same layout as the parameters.
        self.grads = [np.empty_like(p) for p in self.params]

    def forward(self, x1: Array, out: Array) -> list[Array]:
        """Forward ``x1 = [x, 1]`` (m rows); a_L goes into ``out``; returns the layer
        inputs ``[x1, [a_1, 1], …, [a_{L-1}, 1]]`` followed by a_L."""
        m = x1.shape[0]
        a = x1
        outs = [x1]
        last = len(self.acts) - 1
        for i, (p, act) in enumerate(zip(self.params, self.acts, strict=True)):
            if i == last:
                np.matmul(a, p, out=out)
                act.fn(out, out=out)
                outs.append(out)
            else:
                a = self.a_buf[i][:m]
                z = a[:, :-1]
                np.matmul(outs[-1], p, out=z)
                act.fn(z, out=z)
                outs.append(a)
        return outs

    def backward(self, outs: list[Array], y: Array, scale: float = 1.0) -> None:
        """Fill ``grads`` with ``scale`` times the gradient sums over the batch."""
        m = y.shape[0]
        a_out = outs[-1]
        delta = self.d_buf[-1][:m]
        if self.canonical:
            np.subtract(a_out, y, out=delta)  # δ_L = a − y
        else:
            np.copyto(delta, self.cost.grad_a(a_out, y))
            self.acts[-1].backprop_(delta, a_out, self.t_buf[-1][:m])
        if scale != 1.0:
            np.multiply(delta, scale, out=delta)  # every gradient below scales with δ_L
        for i in range(len(self.acts) - 1, -1, -1):
            np.matmul(outs[i].T, delta, out=self.grads[i])
            if i:
                prev = self.d_buf[i - 1][:m]
                np.matmul(delta, self.w_back[i], out=prev)
                self.acts[i - 1].backprop_(prev, outs[i][:, :-1], self.t_buf[i - 1][:m])
                delta = prev

    def gradients(self, x: Array, y: Array) -> tuple[list[Array], list[Array], Array]:
        """Mean gradients (Nielsen orientation) and outputs for one batch (tests, tools)."""
        out = np.empty((x.shape[0], self.net.sizes[-1]), dtype=self.net.dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outs = self.forward(with_ones(x, self.net.dtype), out)
            self.backward(outs, y)
        m = x.shape[0]
        return ([g[:-1].T / m for g in self.grads], [g[-1] / m for g in self.grads], out)


def training_gradients(net: Network, x: Array, y: Array) -> tuple[list[Array], list[Array]]:
    """The training code's mean gradients for (x, y), Nielsen orientation (W, b per layer)."""
    x = np.ascontiguousarray(x, dtype=net.dtype)
    y = np.ascontiguousarray(y, dtype=net.dtype)
    gw, gb, _ = Backprop(net, x.shape[0]).gradients(x, y)
    return gw, gb
