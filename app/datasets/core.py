"""`ParsedDataset` and the checks every source of data shares.

Each parser (JSON arrays, CSV, .npz) turns its input into a float matrix of
inputs plus either a float matrix of targets or a list of class labels, and
hands them to `build_dataset`, which checks counts and finiteness, decides the
task and one-hot encodes labels. Where a problem is reported is up to the
parser: it passes `locate(i)`, the DatasetError keywords naming sample `i`
(`field="targets[3]"` for JSON, `row=4` for CSV).

The task, for numeric targets (JSON `targets`, .npz `targets`, CSV target
columns of numbers; class names are always classification):

- `task="auto"`:
  - one-hot rows, or a single column of 0/1 values: classification (a 0/1
    column stays one output, classes "0" and "1");
  - a single column of class numbers: classification, one-hot with a column
    per class, the classes named by the numbers in numeric order ("0".."9"
    for digits). Class numbers means every value a whole number >= 0, with at
    least 2 and at most `MAX_AUTO_CLASSES` (100) distinct values, and fewer
    distinct values than half the rows (so 3 rows of 2, 10, 2 stay a
    regression target, as do house prices in whole dollars);
  - anything else: regression.
- `task="classification"`: the above, and a single column of any whole numbers
  becomes classes (however many); anything else is refused.
- `task="regression"`: the targets as they are, integers included.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, NoReturn

import numpy as np

from app.datasets.errors import DatasetError, DatasetTooLarge

TASKS = ("auto", "classification", "regression")

#: What the file parsers read: the bytes, or a binary file object (an upload's spooled
#: temporary file), read from its current position.
BinaryInput = bytes | bytearray | memoryview | IO[bytes]

#: Most distinct values a single whole-number target column may have for task "auto" to
#: read it as class numbers (see the module docstring).
MAX_AUTO_CLASSES = 100

#: The setting the service's cap on rows x features comes from (named in the refusal).
MAX_VALUES_SETTING = "BACKPROP_MAX_DATASET_VALUES"

Locate = Callable[[int], dict[str, Any]]
Label = str | int


@dataclass
class ParsedDataset:
    """A dataset ready for training: rows are samples.

    inputs: float64 (n, n_features); targets: float64 (n, n_outputs);
    task: "classification" | "regression"; classes: the names of the target
    columns for classification (["0", "1"] for one 0/1 column), else None.
    """

    inputs: np.ndarray
    targets: np.ndarray
    task: str
    classes: list[str] | None = None

    @property
    def n_samples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.inputs.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.targets.shape[1])


def binary_stream(data: BinaryInput) -> IO[bytes]:
    """A seekable binary stream over ``data`` (bytes are wrapped, not copied; a stream
    that cannot seek is read into memory)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(data)
    if not data.seekable():
        return io.BytesIO(data.read())
    return data


def too_large(field: str, rows: int, columns: int, limit: int, *, so_far: bool = False) -> NoReturn:
    """Raise DatasetTooLarge: ``rows x columns`` values are over ``limit``. ``so_far``: a
    file read as a stream, stopped at data row ``rows`` (the count is a lower bound)."""
    values = rows * columns
    where = f" by data row {rows:,}" if so_far else ""
    raise DatasetTooLarge(
        f"{values:,} values ({rows:,} x {columns:,}){where} is over the limit of "
        f"{limit:,} values ({MAX_VALUES_SETTING})",
        values=values,
        limit=limit,
        field=field,
    )


def check_task(task: object) -> str:
    """Return `task` if it is one of TASKS, else raise DatasetError(field="task")."""
    if task not in TASKS:
        raise DatasetError(f"must be one of {', '.join(TASKS)}, got {task!r}", field="task")
    return str(task)


def field_locator(field: str) -> Locate:
    """Samples located as `field[i]` (JSON bodies and .npz arrays)."""
    return lambda i: {"field": f"{field}[{i}]"}


def plural(count: int, word: str) -> str:
    """'1 value', '3 values'."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def fmt_number(value: float) -> str:
    """A number as a user wrote it: 1 rather than 1.0, nan, inf."""
    value = float(value)
    if np.isfinite(value) and value.is_integer():
        return str(int(value))
    return repr(value)


def check_finite(matrix: np.ndarray, field: str, vector: bool = False) -> None:
    """Raise naming the first NaN/inf cell as `field[i][j]` (or `field[i]` for a vector)."""
    bad = ~np.isfinite(matrix)
    if not bad.any():
        return
    i, j = (int(k) for k in np.argwhere(bad)[0])
    where = f"{field}[{i}]" if vector else f"{field}[{i}][{j}]"
    raise DatasetError(f"is not finite ({fmt_number(matrix[i, j])})", field=where)


def normalize_label(value: object, locate: dict[str, Any]) -> Label:
    """A class label as given: a string, or an integer (2.0 counts as 2)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        if not value.strip():
            raise DatasetError("is empty, expected a class label", **locate)
        return value.strip()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise DatasetError(
        f"{value!r} is not a class label (expected a string or a whole number)", **locate
    )


def one_hot(labels: Sequence[Label], field: str) -> tuple[np.ndarray, list[str]]:
    """One-hot targets and the class names, sorted (numerically when all are integers)."""
    if all(isinstance(label, int) for label in labels):
        names = [str(v) for v in sorted(set(labels))]
    else:
        names = sorted({str(v) for v in labels})
    if len(names) < 2:
        raise DatasetError(
            f"every label is {names[0]!r}; classification needs at least 2 classes",
            field=field,
        )
    index = {name: k for k, name in enumerate(names)}
    columns = np.fromiter((index[str(v)] for v in labels), dtype=np.intp, count=len(labels))
    targets = np.zeros((len(labels), len(names)), dtype=np.float64)
    targets[np.arange(len(labels)), columns] = 1.0
    return targets, names


def target_kind(targets: np.ndarray) -> str | None:
    """Classify targets: "binary" (one 0/1 column), "onehot" (each row one 1, rest 0) or None."""
    zero_one = bool(np.all((targets == 0.0) | (targets == 1.0)))
    if not zero_one:
        return None
    if targets.shape[1] == 1:
        return "binary"
    if bool(np.all(targets.sum(axis=1) == 1.0)):
        return "onehot"
    return None


def class_numbers(column: np.ndarray, *, auto: bool) -> list[Label] | None:
    """The values of a single target column as class labels (ints), or None.

    With ``auto`` (task "auto") only when they look like class numbers: whole numbers
    >= 0, 2 to MAX_AUTO_CLASSES distinct values and fewer than half the rows; else
    (task "classification") whenever every value is a whole number.
    """
    if not bool(np.all(column == np.round(column))):
        return None
    if auto:
        distinct = np.unique(column)
        if column.min() < 0 or not 2 <= distinct.size <= MAX_AUTO_CLASSES:
            return None
        if 2 * distinct.size >= column.size:
            return None
    return [int(v) for v in column]


def first_non_class_row(targets: np.ndarray) -> int:
    """Index of the first row that is neither one-hot nor a lone 0/1."""
    zero_one = np.all((targets == 0.0) | (targets == 1.0), axis=1)
    ok = zero_one if targets.shape[1] == 1 else zero_one & (targets.sum(axis=1) == 1.0)
    return int(np.argmin(ok))


def build_dataset(
    inputs: np.ndarray,
    *,
    targets: np.ndarray | None = None,
    labels: Sequence[Label] | None = None,
    task: str = "auto",
    locate_target: Locate,
    targets_field: str = "targets",
    labels_field: str = "labels",
) -> ParsedDataset:
    """Check counts and values, decide the task, one-hot labels.

    `inputs` is (n, n_features) float64 and already finite-checked by the
    caller's own wording if it wants one; this checks again cheaply. Exactly
    one of `targets` ((n, n_outputs) float64) and `labels` is given.
    """
    task = check_task(task)
    n = inputs.shape[0]
    check_finite(inputs, "inputs")
    if labels is not None:
        if len(labels) != n:
            raise DatasetError(
                f"has {plural(len(labels), 'label')} but inputs has {plural(n, 'row')}",
                field=labels_field,
            )
        if task == "regression":
            raise DatasetError(
                "labels are class names, so the task cannot be 'regression'; "
                "send numeric targets instead",
                field="task",
            )
        onehot, classes = one_hot(labels, labels_field)
        return ParsedDataset(inputs, onehot, "classification", classes)

    assert targets is not None
    if targets.shape[0] != n:
        raise DatasetError(
            f"has {plural(targets.shape[0], 'row')} but inputs has {plural(n, 'row')}",
            field=targets_field,
        )
    check_finite(targets, targets_field)
    kind = target_kind(targets)
    if kind is None and targets.shape[1] == 1 and task != "regression":
        labels = class_numbers(targets[:, 0], auto=task == "auto")
        if labels is not None:
            onehot, classes = one_hot(labels, targets_field)
            return ParsedDataset(inputs, onehot, "classification", classes)
    if task == "auto":
        task = "classification" if kind else "regression"
    if task == "regression":
        return ParsedDataset(inputs, targets, "regression", None)
    if kind is None:
        i = first_non_class_row(targets)
        shown = ", ".join(fmt_number(v) for v in targets[i])
        raise DatasetError(
            f"is [{shown}]; task 'classification' needs one-hot rows or a single 0/1 "
            "column (or class labels)",
            **locate_target(i),
        )
    classes = ["0", "1"] if kind == "binary" else [str(k) for k in range(targets.shape[1])]
    return ParsedDataset(inputs, targets, "classification", classes)
