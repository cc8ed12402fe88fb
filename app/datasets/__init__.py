"""Datasets: parse what users send (JSON arrays, CSV, .npz) and make toy ones.

NumPy and the standard library only. Every problem is a `DatasetError` whose
text names the field, row and column (see `app.datasets.errors`).
"""

from app.datasets.arrays import parse_arrays
from app.datasets.core import TASKS, ParsedDataset
from app.datasets.csvfile import parse_csv
from app.datasets.digest import arrays_sha256, dataset_sha256
from app.datasets.errors import DatasetError, DatasetTooLarge
from app.datasets.generators import GENERATORS, generate, options_of
from app.datasets.npzfile import (
    decode_array,
    decode_values,
    encode_array,
    encode_values,
    parse_npz,
    view_array,
)

__all__ = [
    "GENERATORS",
    "TASKS",
    "DatasetError",
    "DatasetTooLarge",
    "ParsedDataset",
    "arrays_sha256",
    "dataset_sha256",
    "decode_array",
    "decode_values",
    "encode_array",
    "encode_values",
    "generate",
    "options_of",
    "parse_arrays",
    "parse_csv",
    "parse_npz",
    "view_array",
]
