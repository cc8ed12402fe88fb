"""The vectorised forward/backward pass used by training, on preallocated buffers.

One mini-batch is a handful of matrix products (rows are samples, weights stored as
``Wᵀ``): forward ``A_l = σ_l(A_{l-1} Wᵀ_l + b_l)``; backward ``Δ_L`` from the cost,
``Δ_l = (Δ_{l+1} W_{l+1}) ⊙ σ_l'(z_l)``; gradient sums ``Σ_x ∂C_x/∂Wᵀ_l = A_{l-1}ᵀ Δ_l``
and ``Σ_x ∂C_x/∂b_l = 1ᵀ Δ_l``. Activations are applied in place (every activation's
derivative is computed from its output, see ``activations``), and every intermediate
lives in a buffer allocated once for the largest batch, so a training step allocates
nothing (a naive loop at batch 10 spends much of its time in page faults).
"""

from __future__ import annotations

import numpy as np

from app.nn.activations import Array
from app.nn.network import Network


class Backprop:
    """Buffers and the forward/backward pass for batches of up to ``max_rows`` rows."""

    def __init__(self, net: Network, max_rows: int) -> None:
        self.net = net
        self.max_rows = max_rows
        dt = net.dtype
        sizes = net.sizes
        self.acts = net.layer_activation_objects
        self.cost = net.cost_object
        self.canonical = self.cost.canonical == self.acts[-1].name
        #: A_l for l = 1..L-1 (index l-1); the output A_L goes where the caller says.
        self.a_buf = [np.empty((max_rows, n), dtype=dt) for n in sizes[1:-1]]
        self.d_buf = [np.empty((max_rows, n), dtype=dt) for n in sizes[1:]]
        self.t_buf = [np.empty((max_rows, n), dtype=dt) for n in sizes[1:]]
        self.grad_w = [np.empty_like(w) for w in net.wt]
        self.grad_b = [np.empty_like(b) for b in net.biases]
        #: [gW_1, gb_1, …] matching Network.parameters order.
        self.grads = [g for pair in zip(self.grad_w, self.grad_b, strict=True) for g in pair]

    def forward(self, x: Array, out: Array) -> list[Array]:
        """Forward ``x`` (m rows); writes a_L into ``out``; returns [a_0, …, a_L] views."""
        m = x.shape[0]
        a = x
        outs = [x]
        last = len(self.acts) - 1
        for i, (w, b, act) in enumerate(zip(self.net.wt, self.net.biases, self.acts,
                                             strict=True)):
            z = out if i == last else self.a_buf[i][:m]
            np.matmul(a, w, out=z)
            np.add(z, b, out=z)
            a = act.fn(z, out=z)
            outs.append(a)
        return outs

    def backward(self, outs: list[Array], y: Array) -> None:
        """Fill ``grad_w``/``grad_b`` with gradient *sums* over the batch."""
        m = y.shape[0]
        n_layers = len(self.acts)
        a_out = outs[-1]
        delta = self.d_buf[-1][:m]
        if self.canonical:
            np.subtract(a_out, y, out=delta)  # δ_L = a − y
        else:
            np.copyto(delta, self.cost.grad_a(a_out, y))
            self.acts[-1].backprop_(delta, a_out, self.t_buf[-1][:m])
        for i in range(n_layers - 1, -1, -1):
            np.matmul(outs[i].T, delta, out=self.grad_w[i])
            np.add.reduce(delta, axis=0, out=self.grad_b[i])
            if i:
                prev = self.d_buf[i - 1][:m]
                np.matmul(delta, self.net.wt[i].T, out=prev)
                self.acts[i - 1].backprop_(prev, outs[i], self.t_buf[i - 1][:m])
                delta = prev

    def gradients(self, x: Array, y: Array) -> tuple[list[Array], list[Array], Array]:
        """Mean gradients (Nielsen orientation) and outputs for one batch (for tests/tools)."""
        out = np.empty((x.shape[0], self.net.sizes[-1]), dtype=self.net.dtype)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outs = self.forward(x, out)
            self.backward(outs, y)
        m = x.shape[0]
        return ([g.T / m for g in self.grad_w], [g / m for g in self.grad_b], out)


def parameters(net: Network) -> list[Array]:
    """The flat parameter list [Wᵀ_1, b_1, …, Wᵀ_L, b_L] the optimizers update in place."""
    return [p for pair in zip(net.wt, net.biases, strict=True) for p in pair]


def training_gradients(net: Network, x: Array, y: Array) -> tuple[list[Array], list[Array]]:
    """The training code's mean gradients for (x, y), Nielsen orientation (W, b per layer)."""
    x = np.ascontiguousarray(x, dtype=net.dtype)
    y = np.ascontiguousarray(y, dtype=net.dtype)
    gw, gb, _ = Backprop(net, x.shape[0]).gradients(x, y)
    return gw, gb
