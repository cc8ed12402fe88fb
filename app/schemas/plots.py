"""Response model of the decision-boundary grid (GET /v1/jobs/{id}/plots/decision-boundary.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.jobs import Status


class TrainingPoints(BaseModel):
    """The job's training set, to draw on top of the grid."""

    inputs: list[list[float]]
    targets: list[list[float]]
    labels: list[int] | None = Field(None, description="Class index per point (classification).")


class BoundaryGrid(BaseModel):
    """The network's outputs over a regular grid covering the 2-D inputs (10% margins)."""

    job_id: str
    status: Status
    epoch: int = Field(description="Epochs trained by the weights used (checkpoint or final).")
    resolution: int = Field(description="Grid points along each axis.")
    x: list[float] = Field(description="Grid coordinates along input 1.")
    y: list[float] = Field(description="Grid coordinates along input 2.")
    outputs: list[list[list[float]]] = Field(
        description="outputs[i][j] is the output vector at (x[j], y[i])."
    )
    labels: list[list[int]] | None = Field(
        None, description="Predicted class at (x[j], y[i]) (classification)."
    )
    task: Literal["classification", "regression"]
    classes: list[str] | None
    points: TrainingPoints
