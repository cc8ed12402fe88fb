"""High-precision reference values for saturated outputs, independent of the engine.

A small MLP is evaluated in ``decimal`` arithmetic (200 significant digits) straight from
the definitions (σ(z) = 1/(1 + e^{−z}), tanh, softmax, the costs as written in
Nielsen's book), and every derivative is a central difference with step 1e-60: the
truncation error (~h²) and the round-off (~10^-200 / h) are both far below anything a
float64 can show, so these are the exact values of the derivatives at the given float
parameters. No closed form of the engine is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext

D = Decimal
PREC = 200
STEP = D("1e-60")


def activation(name: str, z: Sequence[Decimal]) -> list[Decimal]:
    if name == "sigmoid":
        return [1 / (1 + (-v).exp()) for v in z]
    if name == "tanh":
        return [((2 * v).exp() - 1) / ((2 * v).exp() + 1) for v in z]
    if name == "relu":
        return [max(v, D(0)) for v in z]
    if name == "identity":
        return list(z)
    if name == "softmax":
        top = max(z)
        e = [(v - top).exp() for v in z]
        s = sum(e, D(0))
        return [v / s for v in e]
    raise ValueError(name)


def cost(name: str, a: Sequence[Decimal], y: Sequence[Decimal]) -> Decimal:
    if name == "quadratic":
        return sum(((aj - yj) ** 2 for aj, yj in zip(a, y, strict=True)), D(0)) / 2
    if name == "cross_entropy":
        return -sum(
            (yj * aj.ln() + (1 - yj) * (1 - aj).ln() for aj, yj in zip(a, y, strict=True)), D(0)
        )
    if name == "log_likelihood":
        return -sum((yj * aj.ln() for aj, yj in zip(a, y, strict=True) if yj), D(0))
    raise ValueError(name)


class Net:
    """An MLP in Decimal: ``weights[l]`` is (n_l, n_{l-1}) (Nielsen), ``biases[l]`` (n_l,)."""

    def __init__(
        self,
        weights: Sequence[Sequence[Sequence[float]]],
        biases: Sequence[Sequence[float]],
        activations: Sequence[str],
        cost_name: str,
    ) -> None:
        self.w = [[[D(float(v)) for v in row] for row in layer] for layer in weights]
        self.b = [[D(float(v)) for v in layer] for layer in biases]
        self.acts = list(activations)
        self.cost = cost_name

    def _from(self, layer: int, z: list[Decimal], y: list[Decimal]) -> Decimal:
        """C_x given the pre-activations ``z`` of ``layer`` (0-based)."""
        a = activation(self.acts[layer], z)
        for w, b, act in zip(
            self.w[layer + 1 :], self.b[layer + 1 :], self.acts[layer + 1 :], strict=True
        ):
            z = [sum((wi * ai for wi, ai in zip(row, a, strict=True)), D(0)) + bi
                 for row, bi in zip(w, b, strict=True)]  # fmt: skip
            a = activation(act, z)
        return cost(self.cost, a, y)

    def pre_activations(self, x: Sequence[float]) -> list[list[Decimal]]:
        a = [D(float(v)) for v in x]
        zs = []
        for w, b, act in zip(self.w, self.b, self.acts, strict=True):
            z = [sum((wi * ai for wi, ai in zip(row, a, strict=True)), D(0)) + bi
                 for row, bi in zip(w, b, strict=True)]  # fmt: skip
            zs.append(z)
            a = activation(act, z)
        return zs

    def sample_cost(self, x: Sequence[float], y: Sequence[float]) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = PREC
            return self._from(0, self.pre_activations(x)[0], [D(float(v)) for v in y])

    def deltas(self, x: Sequence[float], y: Sequence[float]) -> list[list[Decimal]]:
        """δ_l = ∂C_x/∂z_l for every layer, by central differences in z_l."""
        with localcontext() as ctx:
            ctx.prec = PREC
            yd = [D(float(v)) for v in y]
            out = []
            for layer, z in enumerate(self.pre_activations(x)):
                d = []
                for k in range(len(z)):
                    up, down = list(z), list(z)
                    up[k] += STEP
                    down[k] -= STEP
                    d.append((self._from(layer, up, yd) - self._from(layer, down, yd)) / (2 * STEP))
                out.append(d)
            return out

    def mean_cost(self, xs: Sequence[Sequence[float]], ys: Sequence[Sequence[float]]) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = PREC
            total = sum((self.sample_cost(x, y) for x, y in zip(xs, ys, strict=True)), D(0))
            return total / len(xs)

    def gradients(
        self, xs: Sequence[Sequence[float]], ys: Sequence[Sequence[float]]
    ) -> tuple[list[list[list[Decimal]]], list[list[Decimal]]]:
        """∂(mean C)/∂W_l and ∂(mean C)/∂b_l, by central differences in each parameter."""
        with localcontext() as ctx:
            ctx.prec = PREC

            def nudge(param: list[Decimal], k: int) -> Decimal:
                old = param[k]
                param[k] = old + STEP
                up = self.mean_cost(xs, ys)
                param[k] = old - STEP
                down = self.mean_cost(xs, ys)
                param[k] = old
                return (up - down) / (2 * STEP)

            gw = [[[nudge(row, k) for k in range(len(row))] for row in layer] for layer in self.w]
            gb = [[nudge(layer, k) for k in range(len(layer))] for layer in self.b]
            return gw, gb
