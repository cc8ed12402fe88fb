"""Datasets sent as JSON arrays: `{"inputs": [[...]], "targets": [[...]]}` or `"labels"`.

The fast path hands the nested lists to NumPy in one call; only when that
fails (ragged rows, strings, nulls) does a slow walk find the first bad
value and name it (`inputs[2]`, `inputs[4][1]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.datasets.core import (
    ParsedDataset,
    build_dataset,
    check_finite,
    check_task,
    field_locator,
    normalize_label,
    plural,
)
from app.datasets.errors import DatasetError

NUMERIC_KINDS = "biuf"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating)


def _check_number(value: object, field: str) -> None:
    if not _is_number(value):
        raise DatasetError(f"{_type_name(value)} is not a number", field=field)


def _diagnose_matrix(rows: Sequence[Any] | np.ndarray, field: str) -> None:
    """Walk rows that NumPy refused and raise on the first problem."""
    width = None
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple | np.ndarray):
            raise DatasetError(
                f"expected a list of numbers, got {_type_name(row)}", field=f"{field}[{i}]"
            )
        if len(row) == 0:
            raise DatasetError("is empty, expected a list of numbers", field=f"{field}[{i}]")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise DatasetError(
                f"has {plural(len(row), 'value')}, expected {width}", field=f"{field}[{i}]"
            )
        for j, value in enumerate(row):
            _check_number(value, f"{field}[{i}][{j}]")


def _diagnose_vector(values: Sequence[Any] | np.ndarray, field: str) -> None:
    for i, value in enumerate(values):
        _check_number(value, f"{field}[{i}]")


def to_matrix(rows: object, field: str, *, allow_vector: bool = False) -> np.ndarray:
    """Nested lists (or an array) as a float64 (n, k) matrix, or raise naming the cell.

    With `allow_vector`, a flat list of n numbers is one column, (n, 1).
    NaN/inf are not checked here.
    """
    if not isinstance(rows, list | tuple | np.ndarray):
        raise DatasetError(f"expected a list of rows, got {_type_name(rows)}", field=field)
    if len(rows) == 0:
        raise DatasetError("is empty, expected at least one row", field=field)
    try:
        array = np.asarray(rows)
    except (ValueError, TypeError):
        array = None
    vector = allow_vector and array is not None and array.ndim == 1
    if array is None or array.dtype.kind not in NUMERIC_KINDS or array.ndim not in (1, 2):
        if allow_vector and not isinstance(rows[0], list | tuple | np.ndarray):
            _diagnose_vector(rows, field)
        else:
            _diagnose_matrix(rows, field)
        raise DatasetError("is not a matrix of numbers", field=field)  # pragma: no cover
    if array.ndim == 1 and not vector:
        _diagnose_matrix(rows, field)
    if array.ndim == 2 and array.shape[1] == 0:
        raise DatasetError("is empty, expected a list of numbers", field=f"{field}[0]")
    matrix = array.astype(np.float64).reshape(len(array), -1)
    check_finite(matrix, field, vector=vector)
    return matrix


def parse_arrays(
    inputs: object,
    targets: object = None,
    labels: object = None,
    task: str = "auto",
) -> ParsedDataset:
    """A dataset from a JSON body: inputs (n rows of n_features numbers) and
    exactly one of targets (n rows of n_outputs numbers, or n numbers) and
    labels (n class names or whole numbers)."""
    task = check_task(task)
    if targets is not None and labels is not None:
        raise DatasetError(
            "give either targets (numbers) or labels (class names), not both", field="targets"
        )
    if targets is None and labels is None:
        raise DatasetError(
            "missing: give targets (numbers) or labels (class names)", field="targets"
        )
    x = to_matrix(inputs, "inputs")
    if labels is not None:
        if not isinstance(labels, list | tuple | np.ndarray):
            raise DatasetError(
                f"expected a list of class labels, got {_type_name(labels)}", field="labels"
            )
        names = [normalize_label(v, {"field": f"labels[{i}]"}) for i, v in enumerate(labels)]
        return build_dataset(x, labels=names, task=task, locate_target=field_locator("labels"))
    y = to_matrix(targets, "targets", allow_vector=True)
    return build_dataset(x, targets=y, task=task, locate_target=field_locator("targets"))
