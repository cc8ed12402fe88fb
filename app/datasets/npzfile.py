"""Datasets uploaded as `.npz` (NumPy zip archives), and single arrays as `.npy` bytes.

An archive holds `inputs` and exactly one of `targets` and `labels`; other
arrays are ignored. Nothing is ever unpickled (`allow_pickle=False`): an
object array is refused. Inputs with more than two dimensions (images, e.g.
MNIST's (n, 28, 28)) are flattened to one row per sample.

Size. A zip member of a few hundred KB can inflate to gigabytes, so with
`max_values` an array's shape and dtype are read from its `.npy` header (the
first bytes of the member: nothing else is inflated) before it is read: inputs
with more than `max_values` values (rows x features), targets or labels with
more, or labels longer than `MAX_LABEL_CHARS` characters, raise
`DatasetTooLarge` without allocating them.
"""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np

from app.datasets.core import (
    BinaryInput,
    ParsedDataset,
    binary_stream,
    build_dataset,
    check_finite,
    check_task,
    field_locator,
    normalize_label,
    too_large,
)
from app.datasets.errors import DatasetError

PICKLE_REFUSED = "object arrays (pickle) are not accepted"
NUMERIC_KINDS = "biuf"
#: Longest class label (characters) an archive may hold when a size cap is given.
MAX_LABEL_CHARS = 1000


def _names(files: list[str]) -> str:
    return ", ".join(repr(f) for f in sorted(files)) if files else "none"


def _read(archive: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    try:
        array = archive[name]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DatasetError(PICKLE_REFUSED, field="file") from None
        raise DatasetError(f"array {name!r} cannot be read ({exc})", field="file") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"array {name!r} cannot be read ({exc})", field="file") from None
    if not isinstance(array, np.ndarray):  # NpzFile hands back raw bytes for a non-.npy member
        raise DatasetError(f"array {name!r} is not .npy data", field="file")
    return array


def _numeric(array: np.ndarray, field: str) -> np.ndarray:
    if array.dtype.kind not in NUMERIC_KINDS:
        raise DatasetError(f"has dtype {array.dtype}, expected numbers", field=field)
    if array.ndim == 0:
        raise DatasetError("is a single number, expected one row per sample", field=field)
    if array.shape[0] == 0:
        raise DatasetError("is empty, expected at least one row", field=field)
    if array.size == 0:
        raise DatasetError("has rows with no values", field=field)
    return array.astype(np.float64).reshape(array.shape[0], -1)


def _inputs(array: np.ndarray) -> np.ndarray:
    matrix = _numeric(array, "inputs")
    check_finite(matrix, "inputs")
    return matrix


def _targets(array: np.ndarray) -> np.ndarray:
    if array.ndim > 2:
        raise DatasetError(f"has {array.ndim} dimensions, expected 1 or 2", field="targets")
    matrix = _numeric(array, "targets")
    check_finite(matrix, "targets", vector=array.ndim == 1)
    return matrix


def _labels(array: np.ndarray) -> list[str | int]:
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DatasetError(
            f"has shape {array.shape}, expected one label per sample", field="labels"
        )
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8", errors="replace")
    if array.dtype.kind not in "biufU":
        raise DatasetError(f"has dtype {array.dtype}, expected strings or integers", field="labels")
    return [normalize_label(v, {"field": f"labels[{i}]"}) for i, v in enumerate(array.tolist())]


def _header(archive: np.lib.npyio.NpzFile, name: str) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype from the `.npy` header of member `name` (as NpzFile resolves it),
    reading only the header; None when it is not readable .npy (reading it will say so)."""
    zf = archive.zip
    if zf is None:
        return None
    member = name if name in zf.namelist() else f"{name}.npy"
    try:
        with zf.open(member) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
            else:  # 2.0 and 3.0 differ only in the header's text encoding
                shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError):
        return None
    return tuple(int(n) for n in shape), np.dtype(dtype)


def _check_size(archive: np.lib.npyio.NpzFile, name: str, max_values: int | None) -> None:
    """Refuse array `name` before it is inflated if it holds more than `max_values`
    values (inputs: rows x features after flattening) or over-long labels."""
    if max_values is None:
        return
    header = _header(archive, name)
    if header is None or not header[0]:
        return
    shape, dtype = header
    rows, columns = shape[0], math.prod(shape[1:])
    if rows * columns > max_values:
        too_large(name, rows, columns, max_values)
    if name == "labels" and dtype.kind in "SU":
        chars = dtype.itemsize // (4 if dtype.kind == "U" else 1)
        if chars > MAX_LABEL_CHARS:
            raise DatasetError(
                f"has labels of up to {chars:,} characters; the limit is {MAX_LABEL_CHARS:,}",
                field="labels",
            )


def parse_npz(
    data: BinaryInput, task: str = "auto", *, max_values: int | None = None
) -> ParsedDataset:
    """A dataset from `.npz` bytes or a binary file object; see the module docstring.

    `max_values` caps the values of each array read (inputs: rows x features);
    over it, `DatasetTooLarge` is raised before the array is inflated.
    """
    task = check_task(task)
    stream = binary_stream(data)
    start = stream.tell()
    if not zipfile.is_zipfile(stream):
        raise DatasetError("is not an .npz archive (not a zip file)", field="file")
    stream.seek(start)
    try:
        archive = np.load(stream, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"is not a readable .npz archive ({exc})", field="file") from None
    with archive:
        files = list(archive.files)
        if "inputs" not in files:
            raise DatasetError(
                f"has no 'inputs' array; its arrays are {_names(files)}", field="file"
            )
        has_targets, has_labels = "targets" in files, "labels" in files
        if has_targets and has_labels:
            raise DatasetError("has both 'targets' and 'labels'; keep one", field="file")
        if not has_targets and not has_labels:
            raise DatasetError(
                f"has neither 'targets' nor 'labels'; its arrays are {_names(files)}",
                field="file",
            )
        _check_size(archive, "inputs", max_values)
        inputs = _inputs(_read(archive, "inputs"))
        if has_labels:
            _check_size(archive, "labels", max_values)
            labels = _labels(_read(archive, "labels"))
            return build_dataset(
                inputs, labels=labels, task=task, locate_target=field_locator("labels")
            )
        _check_size(archive, "targets", max_values)
        targets = _targets(_read(archive, "targets"))
        return build_dataset(
            inputs, targets=targets, task=task, locate_target=field_locator("targets")
        )


def encode_array(a: np.ndarray) -> bytes:
    """An array as `.npy` bytes (no pickle: object arrays are refused)."""
    array = np.asarray(a)
    if array.dtype.hasobject:
        raise DatasetError(PICKLE_REFUSED, field="array")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def encode_values(a: np.ndarray) -> bytes:
    """A dataset's float64 array as `.npy` bytes, stored as float32 when float32 holds
    every value exactly (uploads of float32, integer or 0/1 data), else as float64.
    Half the bytes to store and to read for each job's first load; `decode_values` gives
    back the same float64 numbers, and the engine's cast to a job's dtype gives the same
    array from either, so training is unchanged bit for bit."""
    with np.errstate(over="ignore"):  # a value beyond float32's range: kept as float64
        narrow = a.astype(np.float32)
    return encode_array(narrow if np.array_equal(narrow, a) else a)


def decode_values(b: bytes) -> np.ndarray:
    """The float64 array of `encode_values` bytes (an exact widening of float32)."""
    return decode_array(b).astype(np.float64, copy=False)


def decode_array(b: bytes) -> np.ndarray:
    """The array of `.npy` bytes made by `encode_array` (never unpickles)."""
    try:
        array = np.load(io.BytesIO(b), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DatasetError(PICKLE_REFUSED, field="array") from None
        raise DatasetError(f"is not .npy data ({exc})", field="array") from None
    except (OSError, EOFError) as exc:
        raise DatasetError(f"is not .npy data ({exc})", field="array") from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise DatasetError("is an .npz archive, expected .npy data", field="array")
    return array


def view_array(b: bytes) -> np.ndarray:
    """The array of `.npy` bytes as a read-only view of ``b`` (no copy: a worker keeps
    datasets this way, and a 50 MB copy costs more than a short job's epochs). Anything
    but a plain C- or Fortran-ordered array of a fixed-size dtype is decoded by
    `decode_array` instead (a copy), with its checks and errors."""
    stream = io.BytesIO(b)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return decode_array(b)
    except ValueError:
        return decode_array(b)
    count = math.prod(shape)
    if dtype.hasobject or len(b) - stream.tell() != count * dtype.itemsize:
        return decode_array(b)
    array = np.frombuffer(b, dtype=dtype, count=count, offset=stream.tell())
    return array.reshape(shape, order="F" if fortran else "C")
