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

Plain SGD can go one step further (``backward(..., descend=shrink)``): its update
``P_l ← shrink·P_l − (η/m) Σ_x ∂C_x/∂P_l`` (shrink on the weight rows only: Nielsen's L2
factor, 1 without L2) is done by the gradient product itself, as BLAS ``gemm`` with
``β = 1`` (see ``blas``), right after ``P_l`` has been used to pass δ down a layer. The
gradient sums are then never stored.
"""

from __future__ import annotations

import numpy as np

from app.nn.activations import Array
from app.nn.blas import Plan, gemm_plan
from app.nn.network import Network


def with_ones(x: Array, dtype: str) -> Array:
    """``[x, 1]``: x (m, n) with a column of ones appended, C-contiguous, in ``dtype``."""
    out = np.empty((x.shape[0], x.shape[1] + 1), dtype=dtype)
    out[:, :-1] = x
    out[:, -1] = 1.0
    return out


#: Per hidden layer ([a, 1], a, ones column, [a, 1]ᵀ, [δ, junk], δ, scratch); δ_L; its
#: scratch; per layer the fused SGD step ``P_l ← P_l − [a_{l-1}, 1]ᵀ Δ_l``.
Views = tuple[list[tuple[Array, ...]], Array, Array, list[Plan]]


class Backprop:
    """Buffers and the forward/backward pass for batches of up to ``max_rows`` rows.

    Hidden layers live in contiguous ``(m, n_l + 1)`` buffers whose last column holds
    the ones the next product needs. Matrix products read and write the ``(m, n_l)``
    part through strided views (BLAS takes a leading dimension at no cost), while the
    elementwise work runs over the whole contiguous buffer, which NumPy does about twice
    as fast as over a strided view at these sizes; the ones column is restored after
    the activation, and its entry of δ (computed from the bias row, never used) is junk.
    """

    def __init__(self, net: Network, max_rows: int) -> None:
        self.net = net
        self.max_rows = max_rows
        dt = net.dtype
        sizes = net.sizes
        self.params = net.params
        self.acts = net.layer_activation_objects
        self.cost = net.cost_object
        self.canonical = self.cost.canonical == self.acts[-1].name
        #: [A_l, 1] for the hidden layers l = 1..L-1.
        self.a_buf = [np.ones((max_rows, n + 1), dtype=dt) for n in sizes[1:-1]]
        #: Δ_l (hidden: with a junk last column) and scratch of the same shapes.
        self.d_buf = [np.empty((max_rows, n + 1), dtype=dt) for n in sizes[1:-1]]
        self.d_buf.append(np.empty((max_rows, sizes[-1]), dtype=dt))
        self.t_buf = [np.empty_like(d) for d in self.d_buf]
        #: P_lᵀ views (for [Δ_{l-1}, junk] = Δ_l P_lᵀ); valid while P_l is updated in place.
        self.p_back = [p.T for p in self.params]
        #: Gradient sums Σ_x ∂C_x/∂P_l, same layout as the parameters.
        self.grads = [np.empty_like(p) for p in self.params]
        #: [x, 1] of the current mini-batch (training gathers its rows into it); the
        #: fused SGD step needs the layer input in this buffer.
        self.x_batch = np.ones((max_rows, sizes[0] + 1), dtype=dt)
        self._cache: dict[int, Views] = {}

    def _views(self, m: int) -> Views:
        """The buffers' views for an m-row batch, made once per batch size (the steps of
        an epoch use at most two sizes): per hidden layer ([a, 1], a, the ones column,
        [a, 1]ᵀ, [δ, junk], δ, scratch), then δ_L and its scratch."""
        cached = self._cache.get(m)
        if cached is not None:
            return cached
        hidden: list[tuple[Array, ...]] = []
        for a_buf, d_buf, t_buf in zip(self.a_buf, self.d_buf, self.t_buf, strict=False):
            a, d = a_buf[:m], d_buf[:m]
            hidden.append((a, a[:, :-1], a[:, -1], a.T, d, d[:, :-1], t_buf[:m]))
        delta_out = self.d_buf[-1][:m]
        inputs_t = [self.x_batch[:m].T, *(h[3] for h in hidden)]
        deltas = [*(h[5] for h in hidden), delta_out]
        descend = [
            gemm_plan(p, x_t, d, alpha=-1.0, beta=1.0, scratch=g)
            for p, x_t, d, g in zip(self.params, inputs_t, deltas, self.grads, strict=True)
        ]
        views: Views = (hidden, delta_out, self.t_buf[-1][:m], descend)
        self._cache[m] = views
        return views

    def forward(self, x1: Array, out: Array) -> list[Array]:
        """Forward ``x1 = [x, 1]`` (m rows); a_L goes into ``out``; returns the layer
        inputs ``[x1, [a_1, 1], …, [a_{L-1}, 1]]`` followed by a_L."""
        hidden = self._views(x1.shape[0])[0]
        matmul = np.matmul
        outs = [x1]
        layer_in = x1
        for (a, z, ones, *_), p, act in zip(hidden, self.params, self.acts, strict=False):
            matmul(layer_in, p, out=z)
            act.forward_(a)
            ones.fill(1.0)
            outs.append(a)
            layer_in = a
        matmul(layer_in, self.params[-1], out=out)
        self.acts[-1].forward_(out)
        outs.append(out)
        return outs

    def backward(
        self, outs: list[Array], y: Array, scale: float = 1.0, *, descend: float | None = None
    ) -> None:
        """Fill ``grads`` with ``scale`` times the gradient sums over the batch.

        With ``descend`` (a factor for the weight rows, 1.0 for none), do the SGD step
        ``P_l ← descend·P_l − scale·Σ_x ∂C_x/∂P_l`` on the parameters instead, leaving
        ``grads`` untouched; the forward pass must have read its input from
        ``x_batch``.
        """
        hidden, delta, t_out, steps = self._views(y.shape[0])
        a_out = outs[-1]
        if self.canonical:
            np.subtract(a_out, y, out=delta)  # δ_L = a − y
        else:  # the cost's closed form for this pair, from a (finite at saturation)
            self.cost.delta_(delta, a_out, y, self.acts[-1], t_out)
        if scale != 1.0:
            np.multiply(delta, scale, out=delta)  # every gradient below scales with δ_L
        matmul = np.matmul
        grads, p_back, acts = self.grads, self.p_back, self.acts
        if descend is not None:
            if outs[0].base is not self.x_batch:
                raise ValueError("a fused SGD step needs the batch in Backprop.x_batch")
            params = self.params
            for i in range(len(acts) - 1, 0, -1):
                a, _, _, a_t, full, d_view, t = hidden[i - 1]
                matmul(delta, p_back[i], out=full)  # W_{l+1}ᵀ δ_{l+1}, before the step
                if descend != 1.0:
                    np.multiply(params[i][:-1], descend, out=params[i][:-1])
                steps[i]()  # P_{l+1} ← P_{l+1} − [a_l, 1]ᵀ δ_{l+1}
                acts[i - 1].backprop_(full, a, t)
                delta = d_view
            if descend != 1.0:
                np.multiply(params[0][:-1], descend, out=params[0][:-1])
            steps[0]()
            return
        for i in range(len(acts) - 1, 0, -1):
            a, _, _, a_t, full, d_view, t = hidden[i - 1]
            matmul(a_t, delta, out=grads[i])
            matmul(delta, p_back[i], out=full)  # W_{l+1}ᵀ δ_{l+1} (+ a junk column)
            acts[i - 1].backprop_(full, a, t)
            delta = d_view
        matmul(outs[0].T, delta, out=grads[0])

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
