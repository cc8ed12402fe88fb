"""SHA-256 digests of named arrays, independent of how they were serialized.

A digest covers, per array in the given order, one header line ``name:dtype:shape`` (the
dtype as NumPy's little-endian type string, e.g. ``<f8``; the shape comma-separated)
followed by the array's bytes in C order, little-endian. The same numbers in the same
dtype and shape give the same digest whatever file or database column they came from, so
anyone can recompute it from a download (docs/reproducibility.md shows how).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike


def arrays_sha256(arrays: Iterable[tuple[str, ArrayLike]]) -> str:
    """The hex SHA-256 of ``(name, array)`` pairs (see the module docstring)."""
    digest = hashlib.sha256()
    for name, value in arrays:
        array = np.ascontiguousarray(value)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        shape = ",".join(str(n) for n in array.shape)
        digest.update(f"{name}:{array.dtype.str}:{shape}\n".encode())
        digest.update(array.tobytes(order="C"))
    return digest.hexdigest()


def dataset_sha256(inputs: ArrayLike, targets: ArrayLike) -> str:
    """A dataset's digest: its ``inputs`` then its ``targets``, as stored."""
    return arrays_sha256((("inputs", inputs), ("targets", targets)))
