"""Optimizers with one verb, ``update(params, grad_sums, m)``, in a registry by API name.

``grad_scale(m)`` is a factor the caller folds into the gradient sums before ``update``
(the backprop code multiplies the output error δ_L by it, which scales every gradient:
backprop is linear in δ_L). Plain SGD asks for ``η/m``, so its update is a single
subtraction per layer instead of a scaling pass and a subtraction over all the weights;
the others ask for 1.

``params`` holds one array per layer, ``[Wᵀ_l; b_l]`` (the biases are the last row, see
``Network.params``), updated in place; ``grad_sums[i]`` is ``Σ_{x∈B} ∂C_x/∂params[i]``
over the ``m`` samples of the mini-batch (the buffers are reused as scratch and
overwritten). L2 applies to the weights only (all rows but the last), with Nielsen's
scaling by the training-set size ``n``:

- ``sgd``: exactly docs/design.md §1, ``W ← (1 − ηλ/n) W − (η/m) Σ ∂C_x/∂W``,
  ``b ← b − (η/m) Σ ∂C_x/∂b``.
- ``momentum``: ``v ← μv − η g``, ``W ← W + v`` with ``g = (1/m)Σ∂C_x/∂W + (λ/n) W``;
  Nesterov (Sutskever et al. 2013 form): ``W ← W + μv − η g`` after updating ``v``.
- ``adam``: Kingma & Ba (2015) Algorithm 1 on the same ``g``.

``state()``/``load_state()`` expose every buffer and counter for checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.nn.activations import Array


class Optimizer:
    """Base: holds the learning rate (a schedule may change it between epochs)."""

    name = ""
    #: True when ``update`` is exactly ``P ← s·P − Σ`` on gradient sums scaled by
    #: ``grad_scale(m)``, with ``s = weight_factor()`` on the weight rows: the backprop code
    #: can then apply it inside the gradient products (``Backprop.backward(descend=s)``).
    fused_in_backprop = False

    def __init__(
        self,
        params: Sequence[Array],
        *,
        learning_rate: float,
        l2: float = 0.0,
        n: int = 1,
        **_: object,
    ) -> None:
        self.learning_rate = float(learning_rate)
        self.l2 = float(l2)
        self.n = int(n)

    def grad_scale(self, m: int) -> float:
        """The factor the caller multiplies the gradient sums by before ``update``."""
        return 1.0

    def weight_factor(self) -> float:
        """The factor ``s`` of a fused update (see ``fused_in_backprop``)."""
        return 1.0

    def update(self, params: Sequence[Array], grad_sums: Sequence[Array], m: int) -> None:
        """Update ``params`` in place from ``grad_scale(m) · Σ_x ∂C_x/∂params`` over m samples."""
        raise NotImplementedError

    def state(self) -> dict[str, NDArray[Any]]:
        return {}

    def load_state(self, state: Mapping[str, NDArray[Any]]) -> None:
        for key, value in self.state().items():
            if key not in state or state[key].shape != value.shape:
                raise ValueError(f"optimizer state {key!r} missing or of the wrong shape")
            value[...] = state[key]

    def _mean_grad_with_l2(self, p: Array, g: Array, m: int) -> Array:
        """g ← (1/m) g + (λ/n) p (the L2 term only on the weight rows); returns g."""
        np.multiply(g, 1.0 / m, out=g)
        if self.l2:
            g[:-1] += (self.l2 / self.n) * p[:-1]
        return g


class SGD(Optimizer):
    name = "sgd"
    fused_in_backprop = True

    def grad_scale(self, m: int) -> float:
        return self.learning_rate / m

    def weight_factor(self) -> float:
        """Nielsen's L2 factor ``1 − ηλ/n`` (1.0 without L2)."""
        return 1.0 - self.learning_rate * self.l2 / self.n if self.l2 else 1.0

    def update(self, params: Sequence[Array], grad_sums: Sequence[Array], m: int) -> None:
        # grad_sums arrive as (η/m) Σ ∂C_x/∂P: W ← (1 − ηλ/n) W − (η/m) Σ, b ← b − (η/m) Σ
        shrink = self.weight_factor()
        for p, g in zip(params, grad_sums, strict=True):
            if shrink != 1.0:
                np.multiply(p[:-1], shrink, out=p[:-1])
            np.subtract(p, g, out=p)


class Momentum(Optimizer):
    name = "momentum"

    def __init__(
        self,
        params: Sequence[Array],
        *,
        learning_rate: float,
        l2: float = 0.0,
        n: int = 1,
        momentum: float = 0.9,
        nesterov: bool = False,
        **kw: object,
    ) -> None:
        super().__init__(params, learning_rate=learning_rate, l2=l2, n=n)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocities = [np.zeros_like(p) for p in params]

    def update(self, params: Sequence[Array], grad_sums: Sequence[Array], m: int) -> None:
        mu, eta = self.momentum, self.learning_rate
        for p, g, v in zip(params, grad_sums, self.velocities, strict=True):
            g = self._mean_grad_with_l2(p, g, m)
            np.multiply(g, eta, out=g)  # η g
            np.multiply(v, mu, out=v)
            np.subtract(v, g, out=v)  # v ← μv − η g
            if self.nesterov:
                p += mu * v
                np.subtract(p, g, out=p)  # W ← W + μv − η g
            else:
                np.add(p, v, out=p)

    def state(self) -> dict[str, NDArray[Any]]:
        return {f"velocity_{i}": v for i, v in enumerate(self.velocities)}


class Adam(Optimizer):
    name = "adam"

    def __init__(
        self,
        params: Sequence[Array],
        *,
        learning_rate: float,
        l2: float = 0.0,
        n: int = 1,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        **kw: object,
    ) -> None:
        super().__init__(params, learning_rate=learning_rate, l2=l2, n=n)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params]
        self.scratch = [np.zeros_like(p) for p in params]
        self.t = np.zeros(1, dtype=np.int64)

    def update(self, params: Sequence[Array], grad_sums: Sequence[Array], m: int) -> None:
        self.t[0] += 1
        t = int(self.t[0])
        b1, b2 = self.beta1, self.beta2
        step = self.learning_rate / (1.0 - b1**t)
        root_bc2 = np.sqrt(1.0 - b2**t)
        for p, g, mom, vel, tmp in zip(
            params, grad_sums, self.first, self.second, self.scratch, strict=True
        ):
            g = self._mean_grad_with_l2(p, g, m)
            np.multiply(mom, b1, out=mom)
            mom += (1.0 - b1) * g  # m ← β1 m + (1 − β1) g
            np.multiply(vel, b2, out=vel)
            np.multiply(g, g, out=g)
            np.multiply(g, 1.0 - b2, out=g)
            vel += g  # v ← β2 v + (1 − β2) g²
            # W ← W − η m̂ / (sqrt(v̂) + ε), m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t)
            np.sqrt(vel, out=tmp)
            np.divide(tmp, root_bc2, out=tmp)
            tmp += self.epsilon
            np.divide(mom, tmp, out=tmp)
            np.multiply(tmp, step, out=tmp)
            np.subtract(p, tmp, out=p)

    def state(self) -> dict[str, NDArray[Any]]:
        s: dict[str, NDArray[Any]] = {f"first_{i}": a for i, a in enumerate(self.first)}
        s.update({f"second_{i}": a for i, a in enumerate(self.second)})
        s["t"] = self.t
        return s


OPTIMIZERS: Mapping[str, Callable[..., Optimizer]] = MappingProxyType(
    {"sgd": SGD, "momentum": Momentum, "adam": Adam}
)
"""Every optimizer class by API name."""
