"""Activation functions and their derivatives, in a registry keyed by the API's names.

Every activation here has a derivative that can be written in terms of its *output*
``a = σ(z)`` (sigmoid: a(1-a), tanh: 1-a², relu: [a > 0], identity: 1, softmax: its
Jacobian a_i(δ_ij - a_j)). The training loop relies on that: it applies activations in
place, overwriting ``z`` with ``a``, and never needs ``z`` again. ``derivative(z, a)``
keeps the textbook signature for the inspection code, which stores ``z``.

``backprop(z, a, g)`` returns ``g ⊙ σ'(z)`` (for softmax, the Jacobian-vector product
``Jᵀ g``): the "general form" of docs/design.md §1, ``∇_a C ⊙ σ'(z_L)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


class Activation:
    """One activation: ``fn`` (optionally in place), its derivative, and backprop."""

    name: str = ""
    #: False for softmax, whose derivative is a Jacobian (output layer only).
    elementwise: bool = True
    #: True when σ' can vanish (used by the saturation health metric).
    saturating: bool = False

    def fn(self, z: Array, out: Array | None = None) -> Array:
        """σ(z); ``out=z`` applies it in place."""
        raise NotImplementedError

    def forward_(self, a: Array) -> None:
        """In place: ``a ← σ(a)``, the training loop's fast path (the caller sets
        ``np.errstate``; an exp overflowing to inf is expected and harmless)."""
        self.fn(a, out=a)

    def derivative(self, z: Array | None, a: Array) -> Array:
        """σ'(z) elementwise (computed from ``a``; ``z`` is accepted for symmetry)."""
        raise NotImplementedError

    def backprop_(self, g: Array, a: Array, tmp: Array) -> None:
        """In place: ``g ← g ⊙ σ'(z)`` using only the output ``a`` and a scratch buffer."""
        np.multiply(g, self.derivative(None, a), out=g)

    def backprop(self, z: Array | None, a: Array, g: Array) -> Array:
        """``g ⊙ σ'(z)`` as a new array (the general output-error form)."""
        out = np.array(g, copy=True)
        self.backprop_(out, a, np.empty_like(a))
        return out

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


class Sigmoid(Activation):
    name = "sigmoid"
    saturating = True

    def fn(self, z: Array, out: Array | None = None) -> Array:
        out = np.negative(z, out=out)
        with np.errstate(over="ignore"):
            self._finish(out)
        return out

    def forward_(self, a: Array) -> None:
        np.negative(a, out=a)
        self._finish(a)

    @staticmethod
    def _finish(e: Array) -> None:
        # e = −z → 1 / (1 + e^{−z}); e^{−z} overflows to inf for z << 0, giving exactly 0.
        # (np.divide(1, ·) gives the bits of np.reciprocal, but in SIMD: about 1.5x faster.)
        np.exp(e, out=e)
        np.add(e, 1.0, out=e)
        np.divide(1.0, e, out=e)

    def derivative(self, z: Array | None, a: Array) -> Array:
        return a * (1.0 - a)

    def backprop_(self, g: Array, a: Array, tmp: Array) -> None:
        np.multiply(a, a, out=tmp)
        np.subtract(a, tmp, out=tmp)  # a - a² = a(1 - a)
        np.multiply(g, tmp, out=g)


class Tanh(Activation):
    name = "tanh"
    saturating = True

    def fn(self, z: Array, out: Array | None = None) -> Array:
        return np.tanh(z, out=out)

    def derivative(self, z: Array | None, a: Array) -> Array:
        return 1.0 - a * a

    def backprop_(self, g: Array, a: Array, tmp: Array) -> None:
        np.multiply(a, a, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        np.multiply(g, tmp, out=g)


class ReLU(Activation):
    name = "relu"

    def fn(self, z: Array, out: Array | None = None) -> Array:
        return np.maximum(z, 0.0, out=out)

    def derivative(self, z: Array | None, a: Array) -> Array:
        # σ'(0) is taken as 0 (a unit exactly at the kink passes no gradient).
        return (a > 0).astype(a.dtype)

    def backprop_(self, g: Array, a: Array, tmp: Array) -> None:
        # g where a > 0, else 0 (a is never negative).
        np.sign(a, out=tmp)
        np.multiply(g, tmp, out=g)


class Identity(Activation):
    name = "identity"

    def fn(self, z: Array, out: Array | None = None) -> Array:
        if out is None:
            return np.array(z, copy=True)
        if out is not z:
            np.copyto(out, z)
        return out

    def derivative(self, z: Array | None, a: Array) -> Array:
        return np.ones_like(a)

    def backprop_(self, g: Array, a: Array, tmp: Array) -> None:
        return None


class Softmax(Activation):
    name = "softmax"
    elementwise = False

    def fn(self, z: Array, out: Array | None = None) -> Array:
        # Rows are samples; subtracting the row max keeps exp from overflowing.
        out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        np.divide(out, out.sum(axis=1, keepdims=True), out=out)
        return out

    def derivative(self, z: Array | None, a: Array) -> Array:
        """The Jacobian per sample, shape (m, n, n): ∂a_i/∂z_j = a_i (δ_ij − a_j)."""
        jac = -a[:, :, None] * a[:, None, :]
        idx = np.arange(a.shape[1])
        jac[:, idx, idx] += a
        return jac

    def backprop_(self, g: Array, a: Array, tmp: Array) -> None:
        # Jᵀ g = a ⊙ (g − Σ_j g_j a_j)  (J is symmetric)
        np.multiply(g, a, out=tmp)
        s = tmp.sum(axis=1, keepdims=True)
        np.subtract(g, s, out=g)
        np.multiply(g, a, out=g)


ACTIVATIONS: Mapping[str, Activation] = MappingProxyType(
    {act.name: act for act in (Sigmoid(), Tanh(), ReLU(), Identity(), Softmax())}
)
"""Every activation by API name. ``softmax`` is allowed on the output layer only."""

HIDDEN_ACTIVATIONS: tuple[str, ...] = tuple(n for n, a in ACTIVATIONS.items() if a.elementwise)
"""Activations a hidden layer may use: every elementwise one (softmax's derivative is a
Jacobian over the layer, so it is allowed on the output layer only)."""
OUTPUT_ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATIONS)
