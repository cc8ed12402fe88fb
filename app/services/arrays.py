"""Rows of numbers sent in a request body, checked once for shape and finiteness."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.errors import InvalidInput


def float_rows(
    field: str, rows: Sequence[Sequence[float]], width: int, what: str | None = None
) -> np.ndarray:
    """``rows`` as a float64 matrix with ``width`` columns.

    InvalidInput names the first row of the wrong length (``inputs[3]: expected 2 values,
    got 1``, or with ``what`` saying where ``width`` comes from, ``inputs[3]: has 1
    values, but the network's sizes[0] is 2``) or the first one holding NaN or inf.
    """
    for i, row in enumerate(rows):
        if len(row) != width:
            message = (
                f"has {len(row)} values, but {what} is {width}"
                if what
                else f"expected {width} values, got {len(row)}"
            )
            raise InvalidInput(f"{field}[{i}]", message)
    array = np.asarray(rows, dtype=np.float64).reshape(len(rows), width)
    if not np.isfinite(array).all():
        bad = int(np.argwhere(~np.isfinite(array))[0][0])
        raise InvalidInput(f"{field}[{bad}]", "values must be finite numbers (no NaN or inf)")
    return array
