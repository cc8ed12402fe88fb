"""Cost functions as small objects with ``fn(a, y)`` and ``delta(z, a, y[, activation])``.

As in Nielsen's ``network2.py``: ``fn`` is the per-sample cost ``C_x`` (here vectorised:
rows are samples, it returns one value per row), ``delta`` the output error ``δ_L``.
``delta`` keeps ``z`` in its signature even though no cost here needs it (every
activation's derivative is computed from ``a``), so the backprop code reads like the
equations of DESIGN §1. For the canonical pairs (sigmoid + cross_entropy,
softmax + log_likelihood, identity + quadratic) ``σ'`` cancels and ``δ_L = a − y``;
otherwise ``δ_L = ∇_a C ⊙ σ'(z_L)`` (for softmax, the Jacobian-vector product).

``fn`` clips ``a`` away from 0 and 1 by the dtype's machine epsilon before taking logs,
so a saturated output gives a large finite cost rather than ``nan``; a ``nan`` output
(divergence) still gives ``nan``.

``fn`` is the row sum of ``terms(a, y)``, the cost's contribution per output unit
(``C_x = Σ_j terms[x, j]``). The epoch metrics sum the terms of many rows at once into
one reused buffer (one reduction over the block instead of one per row, and no
temporaries: about six times faster than ``fn(...).mean()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from app.nn.activations import Activation, Array


def _clip01(a: Array, out: Array | None = None) -> Array:
    eps = np.finfo(a.dtype).eps
    return np.clip(a, eps, 1.0 - eps, out=out)


class Cost:
    """One cost function; ``canonical`` names the output activation for which δ = a − y."""

    name: str = ""
    canonical: str = ""
    #: Output activations this cost accepts (None: any).
    requires: tuple[str, ...] | None = None
    requirement: str = ""

    def fn(self, a: Array, y: Array) -> Array:
        """Per-sample cost C_x, shape (m,)."""
        return self.terms(a, y).sum(axis=1)

    def terms(self, a: Array, y: Array, out: Array | None = None) -> Array:
        """Per output unit, the terms whose row sums are C_x; written into ``out`` (an
        array shaped like ``a``, not ``y``) when given."""
        raise NotImplementedError

    def grad_a(self, a: Array, y: Array) -> Array:
        """∇_a C_x, shape (m, n_L)."""
        raise NotImplementedError

    def delta(
        self, z: Array | None, a: Array, y: Array, activation: Activation | None = None
    ) -> Array:
        """Output error δ_L = ∂C_x/∂z_L (``z`` unused: σ' is computed from ``a``).

        ``activation`` is the output layer's; None means this cost's canonical one.
        """
        if activation is None or activation.name == self.canonical:
            return a - y
        return activation.backprop(z, a, self.grad_a(a, y))

    def __repr__(self) -> str:
        return f"<cost {self.name}>"


class QuadraticCost(Cost):
    """C_x = ½‖a − y‖²."""

    name = "quadratic"
    canonical = "identity"

    def terms(self, a: Array, y: Array, out: Array | None = None) -> Array:
        d = np.subtract(a, y, out=out)
        np.multiply(d, d, out=d)
        np.multiply(d, 0.5, out=d)  # ½ (a_j − y_j)²
        return d

    def grad_a(self, a: Array, y: Array) -> Array:
        return a - y


class CrossEntropyCost(Cost):
    """C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)]; needs outputs in (0, 1)."""

    name = "cross_entropy"
    canonical = "sigmoid"
    requires = ("sigmoid", "softmax")
    requirement = "needs outputs in (0, 1): use output_activation sigmoid or softmax"

    def terms(self, a: Array, y: Array, out: Array | None = None) -> Array:
        t = _clip01(a, out)
        log_1ma = np.negative(t)
        np.log1p(log_1ma, out=log_1ma)  # ln(1 − a)
        np.log(t, out=t)
        np.multiply(t, y, out=t)  # y ln a
        one_my = np.subtract(1.0, y, dtype=t.dtype)
        np.multiply(log_1ma, one_my, out=log_1ma)  # (1 − y) ln(1 − a)
        np.add(t, log_1ma, out=t)
        return np.negative(t, out=t)

    def grad_a(self, a: Array, y: Array) -> Array:
        return (a - y) / (a * (1.0 - a))


class LogLikelihoodCost(Cost):
    """C_x = −ln a_y = −Σ_j y_j ln a_j for one-hot y; needs a softmax output."""

    name = "log_likelihood"
    canonical = "softmax"
    requires = ("softmax",)
    requirement = "needs output_activation softmax"

    def terms(self, a: Array, y: Array, out: Array | None = None) -> Array:
        t = _clip01(a, out)
        np.log(t, out=t)
        np.multiply(t, y, out=t)
        return np.negative(t, out=t)  # −y_j ln a_j

    def grad_a(self, a: Array, y: Array) -> Array:
        return -y / a


COSTS: Mapping[str, Cost] = MappingProxyType(
    {c.name: c for c in (QuadraticCost(), CrossEntropyCost(), LogLikelihoodCost())}
)
"""Every cost by API name."""
