"""Dataset requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Task = Literal["classification", "regression"]
TaskOption = Literal["auto", "classification", "regression"]
Kind = Literal["xor", "circles", "moons", "spirals", "blobs", "sine"]


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
    n_samples: int = Field(default=200, ge=4, le=1_000_000)
    noise: float = Field(default=0.1, ge=0, le=10)
    seed: int = Field(default=0, ge=0)
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
