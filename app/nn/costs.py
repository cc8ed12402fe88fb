"""Cost functions as small objects with ``fn(a, y)`` and ``delta(z, a, y[, activation])``.

As in Nielsen's ``network2.py``: ``fn`` is the per-sample cost ``C_x`` (here vectorised:
rows are samples, it returns one value per row), ``delta`` the output error ``δ_L``.
For the canonical pairs (sigmoid + cross_entropy, softmax + log_likelihood, identity +
quadratic) ``σ'`` cancels and ``δ_L = a − y``; otherwise ``δ_L = ∇_a C ⊙ σ'(z_L)`` (for
softmax, the Jacobian-vector product).

Saturation. Written naively, the general form divides by ``a(1 − a)`` (cross-entropy's
``∇_a C``) and the costs take ``ln a`` and ``ln(1 − a)``: once an output rounds to 0 or 1
that is 0/0, and well before, ``1 − a`` has lost its digits (at z = 30 in float64 it
carries three). So every pair the service accepts has a closed form here that never
divides by ``a(1 − a)`` and never forms ``1 − a`` by subtraction:

- ``σ(z) − y`` is ``(1 − y) − σ(−z)`` when σ(z) > ½ (softmax: ``(1 − y_k) − r_k`` with
  ``r_k = Σ_{j≠k} a_j``, summed rather than subtracted); ``σ'`` is ``σ(z)σ(−z)``, tanh's
  ``4σ(2z)σ(−2z)``;
- sigmoid + cross_entropy: ``C = Σ_j y_j sp(−z_j) + (1 − y_j) sp(z_j)`` with the softplus
  ``sp(t) = ln(1 + eᵗ)``; ``δ = σ(z) − y``;
- softmax (log-sum-exp): ``ln a_j = (z_j − M) − ln(1 + Σ_{i≠top} e^{z_i − M})`` with M the
  row max at ``top``, and ``ln r_j = ln(1 − a_j)`` (for a_j < ½) or the log-sum-exp of the
  other units minus that of all (for the top unit);
- softmax + log_likelihood: ``C = −Σ y_j ln a_j``, ``δ = a − y``;
- softmax + cross_entropy (``C = −Σ_j [y_j ln a_j + (1 − y_j) ln r_j]``): with
  ``g_j = ∂C/∂a_j = (a_j − y_j)/(a_j r_j)`` and the Jacobian ``∂a_j/∂z_k = a_j(δ_jk − a_k)``,
  ``δ_k = Σ_j g_j a_j(δ_jk − a_k) = h_k − a_k Σ_j h_j`` where ``h_j = (a_j − y_j)/r_j``;
  since ``h_k r_k = a_k − y_k``, ``h_k − a_k h_k = a_k − y_k`` and::

      δ_k = (a_k − y_k) + a_k Σ_{j≠k} y_j − a_k Σ_{j≠k} (1 − y_j) a_j / r_j

  Every ratio ``a_k a_j / r_j`` with j ≠ k is at most ``a_j`` (``r_j ≥ a_k``), so nothing
  overflows; for one-hot y the terms of the correct unit all have one sign (no
  cancellation), and those of a wrong unit k are ``a_k (2 − Σ_{j∉{k,c}} a_j/r_j)``;
- softmax + quadratic: ``δ_k = a_k Σ_{j≠k} a_j (d_k − d_j) = a_k (d_k r_k − Σ_{j≠k} a_j d_j)``
  with ``d = a − y`` (the ``j = k`` term, which cancels in ``g_k − Σ_j g_j a_j``, left out).

Where the pre-activations ``z`` are at hand (``delta(z, ...)``, :meth:`Cost.fn_z`: the
inspection code and ``Network.loss``) everything is computed from z, in at least float64,
and δ is rounded to the outputs' dtype once: exact to a few units in the last place at
any saturation. The training loop overwrites z with a (see ``backprop``), so its output
error (:meth:`Cost.delta_`) and loss metric (:meth:`Cost.terms`) use ``a``: the same
closed forms with ``r`` as a sum of the other softmax outputs, exact as far as the stored
``a`` is (a sigmoid output that rounds to 1 has lost σ(−z)).

``terms(a, y)`` is the cost's contribution per output unit (``C_x = Σ_j terms[x, j]``,
``fn`` is its row sum); the epoch metrics sum the terms of many rows at once into one
reused buffer. Its logarithms clip ``a`` (and ``1 − a``) to the positive floats nearest 0
and 1, so an output that rounded to 0 or 1 gives a large finite cost (what the nearest
representable output would cost) and an exact one for every representable output; a
``nan`` output (divergence) still gives ``nan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from app.nn.activations import ACTIVATIONS, Activation, Array


# ----------------------------------------------------------------------------- helpers
def _wide(x: Array) -> Array:
    """``x`` in at least float64 (the closed forms from z are evaluated there)."""
    return np.asarray(x, dtype=np.promote_types(x.dtype, np.float64))


def _exclusive_sums(v: Array) -> Array:
    """Per row, ``Σ_{i≠k} v_i`` for every k, as prefix plus suffix sums: for ``v ≥ 0``
    each is accurate to its own size (``total − v_k`` loses it when v_k dominates)."""
    out = np.zeros_like(v)
    if v.shape[1] > 1:
        out[:, 1:] = np.cumsum(v[:, :-1], axis=1)
        out[:, :-1] += np.cumsum(v[:, :0:-1], axis=1)[:, ::-1]
    return out


def _log_floor(x: Array) -> Array:
    """``ln x`` with x clipped to the smallest positive float (ln 0 → a large finite value)."""
    return np.log(np.maximum(x, np.nextafter(x.dtype.type(0), x.dtype.type(1))))


def _log_1ma_softmax(a: Array, r: Array | None = None) -> Array:
    """``ln(1 − a)`` of softmax outputs: ``log1p(−a)`` for a < ½, else ``ln Σ_{j≠k} a_j``."""
    r = _exclusive_sums(a) if r is None else r
    return np.where(a < 0.5, np.log1p(-np.minimum(a, 0.5)), _log_floor(r))


def _sigmoid_pair(z: Array) -> tuple[Array, Array]:
    """``(σ(z), σ(−z))``, each to full relative precision (no ``1 − σ``)."""
    u = np.exp(-np.abs(z))
    big = 1.0 / (1.0 + u)
    small = u * big
    pos = z >= 0
    return np.where(pos, big, small), np.where(pos, small, big)


def _softplus(z: Array) -> Array:
    """``ln(1 + e^z)`` without overflow or cancellation (``−ln σ(−z)``)."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _a_minus_y(a: Array, r: Array, y: Array) -> Array:
    """``a − y``, taking ``1 − a = r`` from its own accurate value where a > ½."""
    return np.where(a > 0.5, (1.0 - y) - r, a - y)


class _Softmax:
    """The quantities of a softmax output layer: ``a``, ``r = 1 − a`` (as ``Σ_{j≠k} a_j``),
    their logs (from z only), the row's top unit and ``rho_k = a_k / r_top`` (0 at the top
    unit): from z (:meth:`from_z`, exact) or from the outputs alone (:meth:`from_a`)."""

    def __init__(
        self,
        a: Array,
        r: Array,
        log_a: Array | None,
        log_r: Array | None,
        top: Array,
        rho: Array,
    ) -> None:
        self.a, self.r, self.log_a, self.log_r, self.top, self.rho = a, r, log_a, log_r, top, rho

    @classmethod
    def from_z(cls, z: Array) -> _Softmax:
        z = _wide(z)
        rows = np.arange(z.shape[0])
        top = z.argmax(axis=1)
        z_top = z[rows, top][:, None]
        e = np.exp(z - z_top)  # 1 at the top unit
        others = _exclusive_sums(e)
        log_s = np.log1p(others[rows, top])[:, None]  # ln Σ_i e^{z_i − M}
        log_a = (z - z_top) - log_s
        a = np.exp(log_a)
        r = others * np.exp(-log_s)
        log_r = np.log1p(-np.minimum(a, 0.5))  # right wherever a < ½ (every unit but top)
        # The others' softmax: rho_k = a_k / r_top, and ln r_top = LSE_{i≠top} z − LSE z.
        rest = z.copy()
        rest[rows, top] = -np.inf
        z_2nd = rest.max(axis=1, keepdims=True)
        e2 = np.exp(rest - z_2nd)
        t2 = e2.sum(axis=1, keepdims=True)  # ≥ 1
        rho = e2 / t2
        log_r_top = (z_2nd - z_top)[:, 0] + np.log(t2[:, 0]) - log_s[:, 0]
        big = a[rows, top] >= 0.5
        log_r[rows[big], top[big]] = log_r_top[big]
        r[rows, top] = np.exp(log_r[rows, top])
        return cls(a, r, log_a, log_r, top, rho)

    @classmethod
    def from_a(cls, a: Array) -> _Softmax:
        rows = np.arange(a.shape[0])
        top = a.argmax(axis=1)
        r = _exclusive_sums(a)
        r_top = r[rows, top][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            # Every other unit underflowed to 0: share r_top equally (exact for 2 units).
            rho = np.where(r_top > 0, a / r_top, 1.0 / max(1, a.shape[1] - 1))
        rho[rows, top] = 0.0
        return cls(a, r, None, None, top, rho)  # (the output error needs no logs)

    def cross_entropy_delta(self, y: Array) -> Array:
        """δ_k = (a_k − y_k) + a_k Σ_{j≠k} y_j − a_k Σ_{j≠k} (1 − y_j) a_j / r_j (see the
        module docstring); the top unit's ratio a_k a_top / r_top is ``a_top rho_k``."""
        a, r, rows, top = self.a, self.r, np.arange(self.a.shape[0]), self.top
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(r > 0, (1.0 - y) * a / r, 0.0)  # ≤ 1 off the top unit
        odds[rows, top] = 0.0
        total = a * _exclusive_sums(odds)
        total += ((1.0 - y[rows, top]) * a[rows, top])[:, None] * self.rho
        return _a_minus_y(a, r, y) + a * _exclusive_sums(y) - total

    def diff(self, y: Array) -> Array:
        """``a − y`` (see ``_a_minus_y``)."""
        return _a_minus_y(self.a, self.r, y)

    def quadratic_delta(self, y: Array) -> Array:
        """δ_k = a_k (d_k r_k − Σ_{j≠k} a_j d_j), d = a − y."""
        d = self.diff(y)
        return self.a * (d * self.r - _exclusive_sums(self.a * d))


def _as(x: Array, like: Array) -> Array:
    return np.asarray(x, dtype=like.dtype)


def _resolve(cost: Cost, activation: Activation | None) -> Activation:
    return ACTIVATIONS[cost.canonical] if activation is None else activation


def _diff_z(name: str, z: Array, y: Array) -> Array:
    """``σ(z) − y`` from z without cancellation against a rounded σ(z) (z and y wide)."""
    if name == "sigmoid":
        s, s_neg = _sigmoid_pair(z)
        return np.where(z >= 0, (1.0 - y) - s_neg, s - y)
    if name == "tanh":
        t = np.tanh(z)
        w = np.exp(-2.0 * np.abs(z))
        gap = 2.0 * w / (1.0 + w)  # 1 − |tanh z|
        sign = np.where(z >= 0, 1.0, -1.0)
        return np.where(np.abs(t) >= 0.5, (sign - y) - sign * gap, t - y)
    if name == "relu":
        return np.maximum(z, 0.0) - y
    if name == "identity":
        return z - y
    raise ValueError(f"no closed form for output activation {name!r}")


def _slope_z(name: str, z: Array) -> Array:
    """σ'(z) from z to full relative precision (z wide)."""
    if name == "sigmoid":
        s, s_neg = _sigmoid_pair(z)
        return s * s_neg
    if name == "tanh":
        w = np.exp(-2.0 * np.abs(z))
        return 4.0 * w / ((1.0 + w) * (1.0 + w))  # sech² z = 4σ(2z)σ(−2z)
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "identity":
        return np.ones_like(z)
    raise ValueError(f"no closed form for output activation {name!r}")


# ----------------------------------------------------------------------------- costs
class Cost:
    """One cost function; ``canonical`` names the output activation for which δ = a − y."""

    name: str = ""
    canonical: str = ""
    #: Output activations this cost accepts (None: any).
    requires: tuple[str, ...] | None = None
    requirement: str = ""

    def fn(self, a: Array, y: Array) -> Array:
        """Per-sample cost C_x, shape (m,), from the outputs (see :meth:`fn_z`)."""
        return self.terms(a, y).sum(axis=1)

    def terms(
        self, a: Array, y: Array, out: Array | None = None, *, activation: Activation | None = None
    ) -> Array:
        """Per output unit, the terms whose row sums are C_x; written into ``out`` (an
        array shaped like ``a``, not ``y``) when given. ``activation`` (the output
        layer's; None: elementwise) lets a softmax layer's ``1 − a`` come from the other
        units' outputs."""
        raise NotImplementedError

    def fn_z(self, z: Array, y: Array, activation: Activation | None = None) -> Array:
        """Per-sample cost C_x, shape (m,), from the output pre-activations z: exact at
        any saturation (see the module docstring). Float64 at least."""
        act = _resolve(self, activation)
        z, y = _wide(z), _wide(np.asarray(y))
        terms = self._terms_z(z, y, act)
        if terms is None:  # a pair without a closed form: from the outputs
            a = act.fn(z.copy())
            return self.terms(a, y, activation=act).sum(axis=1)
        return terms.sum(axis=1)

    def _terms_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        return None

    def grad_a(self, a: Array, y: Array) -> Array:
        """∇_a C_x, shape (m, n_L) (infinite where an output is saturated: :meth:`delta`
        never goes through it for the pairs the service accepts)."""
        raise NotImplementedError

    def delta(
        self, z: Array | None, a: Array, y: Array, activation: Activation | None = None
    ) -> Array:
        """Output error δ_L = ∂C_x/∂z_L, in ``a``'s dtype.

        ``activation`` is the output layer's; None means this cost's canonical one. With
        ``z`` the closed forms are evaluated from z (exact at any saturation); with
        ``z=None`` from the outputs ``a`` (as the training loop does).
        """
        act = _resolve(self, activation)
        if z is None:
            out = np.empty_like(a)
            self.delta_(out, a, np.asarray(y, dtype=a.dtype), act, np.empty_like(a))
            return out
        d = self._delta_z(_wide(z), _wide(np.asarray(y)), act)
        if d is None:
            return act.backprop(z, a, self.grad_a(a, y))
        return _as(d, a)

    def _delta_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        return None

    def delta_(self, out: Array, a: Array, y: Array, activation: Activation, tmp: Array) -> None:
        """In place: ``out ← δ_L`` from the outputs ``a`` alone (the training loop's
        non-canonical pairs; ``tmp`` is scratch shaped like ``a``)."""
        if activation.name == self.canonical:
            np.subtract(a, y, out=out)
            return
        np.copyto(out, self.grad_a(a, y))
        activation.backprop_(out, a, tmp)

    def __repr__(self) -> str:
        return f"<cost {self.name}>"


class QuadraticCost(Cost):
    """C_x = ½‖a − y‖²."""

    name = "quadratic"
    canonical = "identity"

    def terms(
        self, a: Array, y: Array, out: Array | None = None, *, activation: Activation | None = None
    ) -> Array:
        if activation is not None and activation.name == "softmax":
            d = _a_minus_y(a, _exclusive_sums(a), y)
            out = np.multiply(d, d, out=out)
            return np.multiply(out, 0.5, out=out)
        d = np.subtract(a, y, out=out)
        np.multiply(d, d, out=d)
        np.multiply(d, 0.5, out=d)  # ½ (a_j − y_j)²
        return d

    def _terms_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        d = _Softmax.from_z(z).diff(y) if act.name == "softmax" else _diff_z(act.name, z, y)
        return 0.5 * d * d

    def grad_a(self, a: Array, y: Array) -> Array:
        return a - y

    def _delta_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        if act.name == "softmax":
            return _Softmax.from_z(z).quadratic_delta(y)
        return _diff_z(act.name, z, y) * _slope_z(act.name, z)

    def delta_(self, out: Array, a: Array, y: Array, activation: Activation, tmp: Array) -> None:
        if activation.name == "softmax":
            np.copyto(out, _Softmax.from_a(a).quadratic_delta(y))
            return
        np.subtract(a, y, out=out)
        activation.backprop_(out, a, tmp)


class CrossEntropyCost(Cost):
    """C_x = −Σ_j [y_j ln a_j + (1 − y_j) ln(1 − a_j)]; needs outputs in (0, 1)."""

    name = "cross_entropy"
    canonical = "sigmoid"
    requires = ("sigmoid", "softmax")
    requirement = "needs outputs in (0, 1): use output_activation sigmoid or softmax"

    def terms(
        self, a: Array, y: Array, out: Array | None = None, *, activation: Activation | None = None
    ) -> Array:
        if activation is not None and activation.name == "softmax":
            log_1ma = _log_1ma_softmax(a)
        else:
            # ln(1 − a), with 1 − a no smaller than the gap below 1 (a = 1 is saturated)
            log_1ma = np.log1p(-np.minimum(a, 1.0 - np.finfo(a.dtype).epsneg))
        t = np.maximum(a, np.nextafter(a.dtype.type(0), a.dtype.type(1)), out=out)
        np.log(t, out=t)
        np.multiply(t, y, out=t)  # y ln a
        one_my = np.subtract(1.0, y, dtype=t.dtype)
        np.multiply(log_1ma, one_my, out=log_1ma)  # (1 − y) ln(1 − a)
        np.add(t, log_1ma, out=t)
        return np.negative(t, out=t)

    def _terms_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        if act.name == "sigmoid":
            return y * _softplus(-z) + (1.0 - y) * _softplus(z)
        if act.name == "softmax":
            sm = _Softmax.from_z(z)
            assert sm.log_a is not None and sm.log_r is not None
            return -(y * sm.log_a + (1.0 - y) * sm.log_r)
        return None

    def grad_a(self, a: Array, y: Array) -> Array:
        return (a - y) / (a * (1.0 - a))

    def _delta_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        if act.name == "sigmoid":
            return _diff_z("sigmoid", z, y)
        if act.name == "softmax":
            return _Softmax.from_z(z).cross_entropy_delta(y)
        return None

    def delta_(self, out: Array, a: Array, y: Array, activation: Activation, tmp: Array) -> None:
        if activation.name == "softmax":
            np.copyto(out, _Softmax.from_a(a).cross_entropy_delta(y))
            return
        super().delta_(out, a, y, activation, tmp)


class LogLikelihoodCost(Cost):
    """C_x = −ln a_y = −Σ_j y_j ln a_j for one-hot y; needs a softmax output."""

    name = "log_likelihood"
    canonical = "softmax"
    requires = ("softmax",)
    requirement = "needs output_activation softmax"

    def terms(
        self, a: Array, y: Array, out: Array | None = None, *, activation: Activation | None = None
    ) -> Array:
        t = np.maximum(a, np.nextafter(a.dtype.type(0), a.dtype.type(1)), out=out)
        np.log(t, out=t)
        np.multiply(t, y, out=t)
        return np.negative(t, out=t)  # −y_j ln a_j

    def _terms_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        if act.name == "softmax":
            log_a = _Softmax.from_z(z).log_a
            assert log_a is not None
            return -(y * log_a)
        return None

    def grad_a(self, a: Array, y: Array) -> Array:
        return -y / a

    def _delta_z(self, z: Array, y: Array, act: Activation) -> Array | None:
        if act.name == "softmax":
            return _Softmax.from_z(z).diff(y)
        return None


COSTS: Mapping[str, Cost] = MappingProxyType(
    {c.name: c for c in (QuadraticCost(), CrossEntropyCost(), LogLikelihoodCost())}
)
"""Every cost by API name."""
