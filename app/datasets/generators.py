"""Toy datasets to try the service without a file: 2-D classification and a 1-D regression.

Every generator is `fn(n_samples=200, noise=0.1, seed=0, *, <options>)` and
returns a ParsedDataset. `noise` is the standard deviation of the Gaussian
added to every input coordinate (the sine's to its target). The same
parameters give the same data, bit for bit: each call draws from its own
`numpy.random.Generator(PCG64(seed))`. Classes are interleaved (sample i is of
class i mod k), so no shuffling is needed to see every class in a prefix.

    xor      the four corners of the unit square; target 1 where x1 != x2
             (n_samples=4, noise=0 is exactly the truth table)
    circles  an outer circle (class 0, radius 1) around an inner one (class 1,
             radius `factor`, default 0.5)
    moons    two interleaved half circles
    spirals  `n_classes` (default 3) arms winding out from the origin, one-hot
    blobs    `n_classes` (default 3) Gaussian clusters with centres on the unit
             circle, one-hot
    sine     y = sin(x) + noise, x uniform in [-pi, pi]: regression
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeGuard

import numpy as np

from app.datasets.core import ParsedDataset
from app.datasets.errors import DatasetError

MIN_SAMPLES = 4
MAX_SAMPLES = 1_000_000
MAX_NOISE = 10
MAX_CLASSES = 20
"""Bounds of the parameters, here and in the API's request model (app/schemas/datasets.py)."""
BINARY = ["0", "1"]


def _integer(value: object, field: str, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or not low <= value <= high
    ):
        raise DatasetError(
            f"must be a whole number from {low} to {high}, got {value!r}", field=field
        )
    return int(value)


def _is_real(value: object) -> TypeGuard[float]:
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def _rng(n_samples: object, noise: object, seed: object) -> tuple[int, float, np.random.Generator]:
    """Check the common parameters; return them with the seeded generator."""
    n = _integer(n_samples, "n_samples", MIN_SAMPLES, MAX_SAMPLES)
    if not _is_real(noise) or not 0 <= noise <= MAX_NOISE:
        raise DatasetError(
            f"must be a number from 0 to {MAX_NOISE:g}, got {noise!r}", field="noise"
        )
    s = _integer(seed, "seed", 0, 2**63 - 1)
    return n, float(noise), np.random.Generator(np.random.PCG64(s))


def _binary(inputs: np.ndarray, positive: np.ndarray) -> ParsedDataset:
    targets = positive.astype(np.float64).reshape(-1, 1)
    return ParsedDataset(inputs, targets, "classification", list(BINARY))


def _one_hot(inputs: np.ndarray, classes: np.ndarray, k: int) -> ParsedDataset:
    targets = np.eye(k, dtype=np.float64)[classes]
    return ParsedDataset(inputs, targets, "classification", [str(j) for j in range(k)])


def _n_classes(n_classes: object, n: int) -> int:
    k = _integer(n_classes, "n_classes", 2, MAX_CLASSES)
    if n < k:
        raise DatasetError(f"must be at least n_classes ({k}), got {n}", field="n_samples")
    return k


def xor(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> ParsedDataset:
    """Corners (0,0) (0,1) (1,0) (1,1) in turn plus noise; target x1 XOR x2 (one 0/1 column)."""
    n, noise, rng = _rng(n_samples, noise, seed)
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])[np.arange(n) % 4]
    inputs = corners + noise * rng.standard_normal((n, 2))
    return _binary(inputs, corners[:, 0] != corners[:, 1])


def circles(
    n_samples: int = 200, noise: float = 0.1, seed: int = 0, *, factor: float = 0.5
) -> ParsedDataset:
    """A circle of radius `factor` (class 1) inside one of radius 1 (class 0)."""
    n, noise, rng = _rng(n_samples, noise, seed)
    if not _is_real(factor) or not 0 < factor < 1:
        raise DatasetError(f"must be a number between 0 and 1, got {factor!r}", field="factor")
    inner = np.arange(n) % 2 == 1
    angle = rng.uniform(0.0, 2 * np.pi, n)
    radius = np.where(inner, float(factor), 1.0)
    points = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return _binary(points + noise * rng.standard_normal((n, 2)), inner)


def moons(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> ParsedDataset:
    """Two interleaved half circles (scikit-learn's make_moons layout)."""
    n, noise, rng = _rng(n_samples, noise, seed)
    lower = np.arange(n) % 2 == 1
    angle = rng.uniform(0.0, np.pi, n)
    x1 = np.where(lower, 1.0 - np.cos(angle), np.cos(angle))
    x2 = np.where(lower, 0.5 - np.sin(angle), np.sin(angle))
    points = np.column_stack([x1, x2])
    return _binary(points + noise * rng.standard_normal((n, 2)), lower)


def spirals(
    n_samples: int = 200, noise: float = 0.1, seed: int = 0, *, n_classes: int = 3
) -> ParsedDataset:
    """`n_classes` arms, each turning 4 radians from the origin to radius 1 (CS231n's)."""
    n, noise, rng = _rng(n_samples, noise, seed)
    k = _n_classes(n_classes, n)
    classes = np.arange(n) % k
    radius = rng.uniform(0.0, 1.0, n)
    angle = 2 * np.pi * classes / k + 4.0 * radius
    points = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return _one_hot(points + noise * rng.standard_normal((n, 2)), classes, k)


def blobs(
    n_samples: int = 200, noise: float = 0.1, seed: int = 0, *, n_classes: int = 3
) -> ParsedDataset:
    """`n_classes` Gaussian clusters (std `noise`) centred evenly on the unit circle."""
    n, noise, rng = _rng(n_samples, noise, seed)
    k = _n_classes(n_classes, n)
    classes = np.arange(n) % k
    angle = 2 * np.pi * np.arange(k) / k
    centres = np.column_stack([np.cos(angle), np.sin(angle)])[classes]
    return _one_hot(centres + noise * rng.standard_normal((n, 2)), classes, k)


def sine(n_samples: int = 200, noise: float = 0.1, seed: int = 0) -> ParsedDataset:
    """Regression: x uniform in [-pi, pi], y = sin(x) + noise * N(0, 1)."""
    n, noise, rng = _rng(n_samples, noise, seed)
    x = rng.uniform(-np.pi, np.pi, (n, 1))
    y = np.sin(x) + noise * rng.standard_normal((n, 1))
    return ParsedDataset(x, y, "regression", None)


GENERATORS: dict[str, Callable[..., ParsedDataset]] = {
    "xor": xor,
    "circles": circles,
    "moons": moons,
    "spirals": spirals,
    "blobs": blobs,
    "sine": sine,
}


def options_of(kind: str) -> list[str]:
    """The keyword options a kind takes besides n_samples, noise and seed."""
    parameters = inspect.signature(GENERATORS[kind]).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def generate(
    kind: str, n_samples: int = 200, noise: float = 0.1, seed: int = 0, **options: object
) -> ParsedDataset:
    """A toy dataset by name; options set to None take their defaults."""
    if kind not in GENERATORS:
        raise DatasetError(
            f"unknown kind {kind!r}; choose one of {', '.join(GENERATORS)}", field="kind"
        )
    allowed = options_of(kind)
    given = {name: value for name, value in options.items() if value is not None}
    for name in given:
        if name not in allowed:
            takes = ", ".join(allowed) if allowed else "no options"
            raise DatasetError(f"is not an option of {kind!r} (it takes {takes})", field=name)
    return GENERATORS[kind](n_samples, noise, seed, **given)
