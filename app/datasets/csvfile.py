"""Datasets uploaded as CSV: a header row, then one sample per row.

The target column(s) are named by `target` (default: the last column); every
other column is an input and must be numeric. A single target column with
values that are not numbers holds class labels, which become one-hot targets
with `classes`. Blank lines are skipped; rows are numbered from 1 after the
header, as a user counts data rows.

The file is read as a stream, never whole (bytes, or a binary file object such
as an upload's spooled temporary file), `CHUNK` bytes at a time:

1. one pass checks that it is UTF-8 and counts its lines (a bound on the rows);
2. a file of plain numbers then goes through NumPy's C reader a chunk of lines
   at a time, straight into preallocated float64 inputs and targets;
3. anything else (quotes, text, empty or non-finite cells, ragged rows) goes
   through the csv module twice: once for the structure and the row count,
   once converting `BLOCK_CELLS` cells at a time into arrays of the exact
   size; only when a conversion fails are that block's rows walked cell by
   cell to name the first bad cell (and class labels, if the target holds
   text, take a third pass).

So the memory is the parsed arrays plus a chunk, not a multiple of the file.
With `max_values`, reading stops as soon as rows x input columns passes it,
raising `DatasetTooLarge`.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import warnings
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import IO

import numpy as np

from app.datasets.core import (
    BinaryInput,
    Label,
    ParsedDataset,
    binary_stream,
    build_dataset,
    check_task,
    fmt_number,
    normalize_label,
    plural,
    too_large,
)
from app.datasets.errors import DatasetError

#: Bytes decoded at a time.
CHUNK = 1 << 18
#: Cells converted at a time on the csv-module path.
BLOCK_CELLS = 1 << 16

Cells = Callable[[list[str]], tuple[str, ...]]


def _check_utf8(stream: IO[bytes]) -> int:
    """Decode the whole stream (a UTF-8 BOM may lead) and return its number of lines, a
    bound on the rows; a byte that is not UTF-8 is named with its offset in the file."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines, first = 0, 1, True
    while True:
        chunk = stream.read(CHUNK)
        if first and chunk.startswith(codecs.BOM_UTF8):
            chunk, offset = chunk[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
        first = False
        lines += chunk.count(b"\n")
        pending = len(decoder.getstate()[0])  # bytes of a character split by the chunk
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                f"at offset {offset - pending + exc.start})",
                field="file",
            ) from None
        if not chunk:
            return lines
        offset += len(chunk)


def _line_blocks(stream: IO[bytes], start: int) -> Iterator[list[str]]:
    """The stream's lines from ``start`` (split at "\\n" only, endings kept, BOM dropped),
    one chunk's worth at a time."""
    stream.seek(start)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    partial: list[str] = []  # the start of a line longer than a chunk
    while True:
        chunk = stream.read(CHUNK)
        text = decoder.decode(chunk, final=not chunk)
        if not chunk:
            last = "".join(partial) + text
            if last:
                yield [last]
            return
        if "\n" not in text:
            partial.append(text)
            continue
        lines = text.split("\n")
        if partial:
            lines[0] = "".join(partial) + lines[0]
            partial = []
        tail = lines.pop()
        if tail:
            partial.append(tail)
        yield [line + "\n" for line in lines]


def _lines(stream: IO[bytes], start: int) -> Iterator[str]:
    for block in _line_blocks(stream, start):
        yield from block


def _check_header(row: list[str]) -> list[str]:
    header = [name.strip() for name in row]
    seen: set[str] = set()
    for k, name in enumerate(header, start=1):
        if not name:
            raise DatasetError(f"column {k} has no name", field="header")
        if name in seen:
            raise DatasetError(f"column {name!r} appears twice", field="header")
        seen.add(name)
    return header


def _picker(index: list[int]) -> Cells:
    """The cells of some columns of a row (itemgetter keeps this at C speed)."""
    if len(index) == 1:
        k = index[0]
        return lambda row: (row[k],)
    return itemgetter(*index)


Parsed = tuple[list[str], list[str], np.ndarray, np.ndarray | None, list[Label] | None]


def _all_numeric(
    stream: IO[bytes],
    start: int,
    n_lines: int,
    target: list[str] | str | None,
    max_values: int | None,
) -> Parsed | None:
    """Fast path for a file of plain numbers: (header, targets, inputs, outputs, None).

    NumPy's C reader is about three times quicker than the csv module plus a
    conversion on a 60,000 x 785 file (MNIST as CSV). Anything unusual (quotes,
    text, empty or non-finite cells, ragged rows, no data, a bad target name)
    returns None, and the careful path reads the file and says what is wrong.
    """
    header: list[str] | None = None
    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data"
        for lines in _line_blocks(stream, start):
            if header is None:
                first = next((k for k, line in enumerate(lines) if line.strip()), None)
                if first is None:
                    continue
                if '"' in lines[first]:
                    return None
                header = _check_header(lines[first].split(","))
                try:
                    targets = _target_columns(header, target)
                except DatasetError:
                    return None
                t_index = [header.index(name) for name in targets]
                i_index = [k for k, name in enumerate(header) if name not in targets]
                rows = n_lines if max_values is None else min(n_lines, max_values // len(i_index))
                inputs = np.empty((rows, len(i_index)), dtype=np.float64)
                outputs = np.empty((rows, len(t_index)), dtype=np.float64)
                lines = lines[first + 1 :]
            if any('"' in line for line in lines):
                return None
            try:
                block = np.loadtxt(lines, delimiter=",", comments=None, ndmin=2, dtype=np.float64)
            except ValueError:
                return None
            m = block.shape[0]
            if m == 0:
                continue
            if block.shape[1] != len(header) or not np.isfinite(block).all():
                return None
            if n + m > inputs.shape[0]:  # only a cap can make the buffer short
                assert max_values is not None  # the first row over it:
                too_large("inputs", inputs.shape[0] + 1, len(i_index), max_values, so_far=True)
            inputs[n : n + m] = block[:, i_index]
            outputs[n : n + m] = block[:, t_index]
            n += m
    if header is None or n == 0:
        return None
    return header, targets, inputs[:n], outputs[:n], None


def _careful(
    stream: IO[bytes],
    start: int,
    target: list[str] | str | None,
    task: str,
    max_values: int | None,
) -> Parsed:
    """The csv-module path: (header, targets, inputs, outputs or None, labels or None),
    every problem reported in the order a whole-file reading would find it (invalid
    CSV anywhere, the header, no data, ragged rows, the target names, input cells in
    reading order, then the target cells)."""
    header_row: list[str] | None = None
    header_error: DatasetError | None = None
    per_row = 0  # input columns, for the cap (once the header and target are known)
    ragged: tuple[int, int] | None = None
    n = 0
    reader = csv.reader(_lines(stream, start), strict=True)
    try:
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            if header_row is None:
                header_row = row
                try:
                    names = _check_header(row)
                except DatasetError as exc:
                    header_error = exc
                    continue
                with contextlib.suppress(DatasetError):  # reported after the rows' problems
                    per_row = len(names) - len(_target_columns(names, target))
                continue
            n += 1
            if ragged is None and len(row) != len(header_row):
                ragged = (n, len(row))
            if max_values is not None and per_row and n * per_row > max_values:
                too_large("inputs", n, per_row, max_values, so_far=True)
    except csv.Error as exc:
        raise DatasetError(
            f"is not valid CSV at line {reader.line_num} ({exc})", field="file"
        ) from None
    if header_row is None:
        raise DatasetError("is empty, expected a header row and data rows", field="file")
    if header_error is not None:
        raise header_error
    if n == 0:
        raise DatasetError("has a header but no data rows", field="file")
    if ragged is not None:
        raise DatasetError(
            f"has {plural(ragged[1], 'value')}, expected {len(header_row)} (one per header column)",
            row=ragged[0],
        )
    header = _check_header(header_row)
    targets = _target_columns(header, target)
    input_names = [name for name in header if name not in targets]
    inputs = np.empty((n, len(input_names)), dtype=np.float64)
    outputs = np.empty((n, len(targets)), dtype=np.float64)
    pick_in = _picker([header.index(name) for name in input_names])
    pick_out = _picker([header.index(name) for name in targets])
    may_be_labels = len(targets) == 1 and task != "regression"
    text_target = False  # a target cell that is not a number: class labels (if may_be_labels)
    bad_target: DatasetError | None = None  # the first bad target cell, reported after inputs
    block_rows = max(1, BLOCK_CELLS // len(header))
    cells_in: list[tuple[str, ...]] = []
    cells_out: list[tuple[str, ...]] = []
    done = 0

    def convert() -> None:
        nonlocal done, text_target, bad_target
        m = len(cells_in)
        values = _floats(cells_in)
        if values is None or not np.isfinite(values).all():
            _first_bad_cell(cells_in, input_names, done)  # raises
        assert values is not None
        inputs[done : done + m] = values
        values = _floats(cells_out)
        if values is None:
            text_target = True
        if values is None or not np.isfinite(values).all():
            if bad_target is None:
                try:
                    _first_bad_cell(cells_out, targets, done)
                except DatasetError as exc:
                    bad_target = exc
        else:
            outputs[done : done + m] = values
        done += m
        cells_in.clear()
        cells_out.clear()

    for row in _data_rows(stream, start):
        cells_in.append(pick_in(row))
        cells_out.append(pick_out(row))
        if len(cells_in) == block_rows:
            convert()
    if cells_in:
        convert()
    if may_be_labels and text_target:
        name = targets[0]
        labels = [
            normalize_label(cell, {"row": r, "column": name})
            for r, (cell,) in enumerate(map(pick_out, _data_rows(stream, start)), start=1)
        ]
        return header, targets, inputs, None, labels
    if bad_target is not None:
        raise bad_target
    return header, targets, inputs, outputs, None


def _data_rows(stream: IO[bytes], start: int) -> Iterator[list[str]]:
    """The data rows (blank rows and the header skipped) of a file known to be valid CSV."""
    rows = (
        row for row in csv.reader(_lines(stream, start), strict=True) if any(c.strip() for c in row)
    )
    next(rows, None)
    yield from rows


def _floats(cells: list[tuple[str, ...]]) -> np.ndarray | None:
    """The cells as a float64 matrix, or None if one is not a number (NaN/inf pass)."""
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        return None


def _first_bad_cell(cells: list[tuple[str, ...]], names: list[str], before: int) -> None:
    """Raise for the first cell (in reading order) that is not a finite number."""
    for r, row in enumerate(cells, start=before + 1):
        for name, cell in zip(names, row, strict=True):
            _cell_value(cell, r, name)
    raise AssertionError("unreachable: a bad cell was expected")  # pragma: no cover


def _target_columns(header: list[str], target: list[str] | str | None) -> list[str]:
    if target is None:
        target = [header[-1]]  # default: the last column (and still checked below)
    names = [target] if isinstance(target, str) else list(target)
    if not names:
        raise DatasetError("is empty, name at least one column", field="target")
    listed = ", ".join(repr(h) for h in header)
    for name in names:
        if name not in header:
            raise DatasetError(
                f"column {name!r} is not in the file; its columns are {listed}", field="target"
            )
    if len(set(names)) != len(names):
        raise DatasetError("names a column twice", field="target")
    if len(names) == len(header):
        raise DatasetError(
            f"takes every column ({listed}); at least one must be an input", field="target"
        )
    return names


def _cell_value(cell: str, row: int, column: str) -> float:
    """One cell as a finite float, or raise naming row and column."""
    text = cell.strip()
    if not text:
        raise DatasetError("is empty, expected a number", row=row, column=column)
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(f"{text!r} is not a number", row=row, column=column) from None
    if not np.isfinite(value):
        raise DatasetError(f"{text!r} is not finite", row=row, column=column)
    return value


def _class_labels_from_numbers(values: np.ndarray, column: str) -> list[Label]:
    """Whole numbers (e.g. digits 0-9) as class labels, for task "classification"."""
    fractional = values != np.round(values)
    if fractional.any():
        r = int(np.argmax(fractional))
        raise DatasetError(
            f"{fmt_number(values[r])} is not a class label (task 'classification' needs "
            "whole numbers or names in a single target column)",
            row=r + 1,
            column=column,
        )
    return [int(v) for v in values]


def parse_csv(
    data: BinaryInput,
    target: list[str] | str | None = None,
    task: str = "auto",
    *,
    max_values: int | None = None,
) -> ParsedDataset:
    """A dataset from CSV (bytes or a binary file object) with a header row; see the
    module docstring. `max_values` caps rows x input columns (`DatasetTooLarge`)."""
    task = check_task(task)
    stream = binary_stream(data)
    start = stream.tell()
    n_lines = _check_utf8(stream)
    parsed = _all_numeric(stream, start, n_lines, target, max_values)
    if parsed is None:
        parsed = _careful(stream, start, target, task, max_values)
    _, targets, inputs, outputs, labels = parsed

    def locate(i: int) -> dict[str, object]:
        return {"row": i + 1, "column": targets[0] if len(targets) == 1 else None}

    def finish(
        *, outputs: np.ndarray | None = None, labels: list[Label] | None = None
    ) -> ParsedDataset:
        return build_dataset(
            inputs,
            targets=outputs,
            labels=labels,
            task=task,
            locate_target=locate,
            targets_field="target",
            labels_field="target",
        )

    if labels is not None:
        return finish(labels=labels)
    assert outputs is not None
    zero_one = bool(np.all((outputs == 0.0) | (outputs == 1.0)))
    if len(targets) == 1 and task == "classification" and not zero_one:
        return finish(labels=_class_labels_from_numbers(outputs[:, 0], targets[0]))
    return finish(outputs=outputs)
