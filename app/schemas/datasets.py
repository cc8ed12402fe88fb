"""Dataset requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.datasets import GENERATORS, TASKS
from app.datasets.generators import MAX_CLASSES, MAX_NOISE, MAX_SAMPLES, MIN_SAMPLES
from app.schemas.common import example

if TYPE_CHECKING:
    Task = str
    TaskOption = str
    Kind = str
else:
    TaskOption = Literal[TASKS]
    Task = Literal[tuple(t for t in TASKS if t != "auto")]
    Kind = Literal[tuple(GENERATORS)]


class DatasetCreate(BaseModel):
    """A dataset sent as JSON: ``inputs`` plus either ``targets`` or class ``labels``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "xor",
                    "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]],
                    "labels": [0, 1, 1, 0],
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    inputs: list[list[float]]
    targets: list[list[float]] | None = None
    labels: list[str | int] | None = None
    task: TaskOption = "auto"


class DatasetGenerate(BaseModel):
    """A seeded toy dataset made by the server."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "xor", "n_samples": 200, "noise": 0.1, "seed": 0, "name": "xor"}]
        },
    )

    kind: Kind
    n_samples: int = Field(default=200, ge=MIN_SAMPLES, le=MAX_SAMPLES)
    noise: float = Field(default=0.1, ge=0, le=MAX_NOISE)
    seed: int = Field(default=0, ge=0)
    n_classes: int | None = Field(
        default=None,
        ge=2,
        le=MAX_CLASSES,
        description="spirals/blobs only: number of classes (default 3).",
    )
    name: str | None = Field(default=None, max_length=200, description="Default: the kind.")


class Dataset(BaseModel):
    """A stored dataset's metadata (the arrays are downloaded separately)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    n_samples: int
    n_features: int
    n_outputs: int
    task: Task
    classes: list[str] | None
    created_at: datetime
    sha256: str | None = Field(
        default=None,
        description="SHA-256 of the arrays as stored (docs/reproducibility.md); what a job's "
        "receipt cites.",
    )


class DatasetList(BaseModel):
    """One page of datasets, newest first."""

    items: list[Dataset]
    total: int
    limit: int
    offset: int


class DatasetArrays(BaseModel):
    """A dataset's arrays as JSON (``GET /v1/datasets/{id}/download?format=json``)."""

    inputs: list[list[float]]
    targets: list[list[float]]
    classes: list[str] | None


class DatasetPreview(DatasetArrays):
    """The points a ``POST /v1/datasets/generate`` with the same body would store, bit for
    bit, without storing anything (``POST /v1/datasets/preview``)."""

    task: Task
    n_samples: int
    n_features: int
    n_outputs: int
    labels: list[int] | None = Field(
        default=None, description="Class index per sample (classification)."
    )


#: "Try it out" bodies of the creating endpoints in /docs.
CREATE_EXAMPLES = {
    "xor": example(
        "XOR with class labels",
        {"name": "xor", "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "labels": [0, 1, 1, 0]},
    ),
    "regression": example(
        "y = 2x + 1 (targets)",
        {"name": "line", "inputs": [[0], [1], [2], [3]], "targets": [[1], [3], [5], [7]]},
    ),
}
GENERATE_EXAMPLES = {
    "xor": example(
        "200 noisy XOR points (then POST /v1/jobs)",
        {"kind": "xor", "n_samples": 200, "noise": 0.1, "seed": 0, "name": "xor"},
    ),
    "spirals": example(
        "two spirals", {"kind": "spirals", "n_samples": 300, "noise": 0.1, "seed": 0}
    ),
}
