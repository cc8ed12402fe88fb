"""Weight initialisers, in a registry keyed by the API's names.

Each takes the RNG and a layer's (n_in, n_out) and returns ``(W, b)`` in Nielsen
orientation (``W`` is (n_out, n_in)), drawn in float64 in a fixed order (weights, then
biases, layer by layer) so the same seed gives the same numbers in every dtype.

- ``default``: Nielsen's ``default_weight_initializer``: W ~ N(0, 1/n_in), b ~ N(0, 1).
- ``large``: Nielsen's ``large_weight_initializer``: W ~ N(0, 1), b ~ N(0, 1).
- ``xavier``: Glorot & Bengio (2010) uniform: W ~ U(±sqrt(6/(n_in+n_out))), b = 0.
- ``he``: He et al. (2015) for ReLU: W ~ N(0, 2/n_in), b = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

Init = Callable[[np.random.Generator, int, int], tuple[NDArray[np.float64], NDArray[np.float64]]]


def default(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[NDArray, NDArray]:
    w = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
    return w, rng.standard_normal(n_out)


def large(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[NDArray, NDArray]:
    w = rng.standard_normal((n_out, n_in))
    return w, rng.standard_normal(n_out)


def xavier(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[NDArray, NDArray]:
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_out, n_in)), np.zeros(n_out)


def he(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[NDArray, NDArray]:
    w = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)
    return w, np.zeros(n_out)


INITIALIZERS: Mapping[str, Init] = MappingProxyType(
    {"default": default, "large": large, "xavier": xavier, "he": he}
)
"""Every initialiser by API name."""
