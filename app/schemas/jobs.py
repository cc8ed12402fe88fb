"""Job requests and responses, and the one mapping of a metrics row.

The job spec itself (network, training, initial weights) is ``app.schemas.spec``; a
:class:`JobCreate` is that spec plus the dataset it trains on.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.db.models import JobStatus
from app.schemas.common import example
from app.schemas.provenance import FromJob, FromMode, ReplayVerdict
from app.schemas.spec import (
    XOR_NETWORK,
    XOR_TRAINING,
    Activation,
    JobSpec,
    LayerWeights,
    NetworkSpec,
    TrainingConfig,
)

__all__ = [
    "XOR_NETWORK",
    "XOR_TRAINING",
    "Activation",
    "Job",
    "JobCreate",
    "JobList",
    "JobSpec",
    "LayerHealth",
    "Lineage",
    "LayerWeights",
    "MetricRow",
    "MetricsPage",
    "NetworkSpec",
    "PredictRequest",
    "PredictResponse",
    "Progress",
    "Status",
    "TrainingConfig",
    "WeightsDocument",
]

if TYPE_CHECKING:
    Status = str
else:
    Status = Literal[tuple(s.value for s in JobStatus)]


class JobCreate(BaseModel):
    """A training job: which dataset, which network, how to train it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset_name": "xor",
                    "network": XOR_NETWORK,
                    "training": XOR_TRAINING,
                    "initial_weights": None,
                }
            ]
        },
    )

    dataset_id: str | None = Field(default=None, description="The dataset to train on.")
    dataset_name: str | None = Field(
        default=None,
        description="Alternative to dataset_id: the newest dataset with this name.",
    )
    network: NetworkSpec | None = Field(
        default=None, description="Required, unless `from_job` gives the parent's."
    )
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    initial_weights: list[LayerWeights] | None = Field(
        default=None, description="Warm start: the `layers` list of a weights document."
    )
    from_job: FromJob | None = Field(
        default=None,
        description="Start from another job (docs/reproducibility.md): the dataset, network "
        "and training fields not given here are the parent's.",
    )

    def spec(self) -> JobSpec:
        """The job spec alone (without the dataset reference); not for ``from_job``."""
        assert self.network is not None, "checked by the model validator"
        return JobSpec(
            network=self.network, training=self.training, initial_weights=self.initial_weights
        )

    @model_validator(mode="after")
    def _one_dataset_reference(self) -> JobCreate:
        both = self.dataset_id is not None and self.dataset_name is not None
        if self.from_job is None:
            if self.network is None:
                raise ValueError("network is required (or give from_job)")
            if (self.dataset_id is None) == (self.dataset_name is None):
                raise ValueError("give exactly one of dataset_id and dataset_name")
        else:
            if both:
                raise ValueError("give at most one of dataset_id and dataset_name")
            if self.initial_weights is not None:
                raise ValueError(
                    "give either initial_weights or from_job: from_job sets the start weights"
                )
        return self


class Progress(BaseModel):
    """Epochs finished out of the total, and the estimated seconds left while running."""

    epoch: int
    epochs: int
    eta_seconds: float | None = None


class Job(BaseModel):
    """A job's state, progress, timings and (once finished) its final metrics."""

    id: str
    status: Status
    dataset_id: str | None
    network: dict[str, Any]
    training: dict[str, Any]
    progress: Progress
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    attempts: int
    cancel_requested: bool
    final_metrics: dict[str, Any] | None
    sweep_id: str | None = Field(default=None, description="The sweep this job is a trial of.")
    trial: int | None = Field(default=None, description="Its trial number in that sweep.")
    parent_id: str | None = Field(
        default=None, description="The job this one continues or warm-starts from."
    )
    from_mode: FromMode | None = Field(
        default=None, description="How it starts from its parent (see JobCreate.from_job)."
    )
    replay: ReplayVerdict | None = Field(
        default=None,
        description="For a replay: the job it replays and, once finished, the verdict.",
    )


class Lineage(BaseModel):
    """A job's ancestors: its parent first, then the parent's parent, and so on."""

    job_id: str
    ancestors: list[Job]
    missing: str | None = Field(
        default=None, description="An ancestor that was deleted, which ends the list."
    )


class JobList(BaseModel):
    """One page of jobs, newest first."""

    items: list[Job]
    total: int
    limit: int
    offset: int


def finite_or_none(value: Any) -> Any:
    """A number as JSON and both databases can hold it: NaN and ±inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class LayerHealth(BaseModel):
    """Training health of one layer at the end of an epoch (from its last mini-batch)."""

    _finite = field_validator("*", mode="before")(finite_or_none)

    grad_norm: float | None = Field(
        default=None, description="‖∂C/∂W‖ of the layer: near 0 means it has stopped learning."
    )
    update_ratio: float | None = Field(
        default=None,
        description="‖ΔW‖/‖W‖ of the last step: ~1e-3 is healthy, much smaller is slow learning.",
    )
    saturated_fraction: float | None = Field(
        default=None,
        description=(
            "sigmoid/tanh layers: share of the batch's activations with σ'(z) below 1% of "
            "its maximum (saturated: they learn slowly)."
        ),
    )
    dead_fraction: float | None = Field(
        default=None, description="relu layers: share of units with a = 0 for every sample (dead)."
    )


# The one mapping of a metrics row: the worker builds it from the engine's EpochMetrics
# and stores columns(); the API reads it back from the metrics table; the event stream
# sends event(); a finished job keeps summary() of its last epoch as final_metrics.
class MetricRow(BaseModel):
    """One epoch of the loss curve, with per-layer training health."""

    model_config = ConfigDict(from_attributes=True)

    epoch: int
    train_loss: float | None
    train_accuracy: float | None
    validation_loss: float | None
    validation_accuracy: float | None
    learning_rate: float | None
    seconds: float | None
    health: list[LayerHealth] | None = None

    _finite = field_validator(
        "train_loss",
        "train_accuracy",
        "validation_loss",
        "validation_accuracy",
        "learning_rate",
        "seconds",
        mode="before",
    )(finite_or_none)

    def columns(self) -> dict[str, Any]:
        """The values of the row's ``metrics`` table columns."""
        return self.model_dump()

    def event(self) -> dict[str, Any]:
        """What an event-stream ``metrics`` event carries (no per-layer health)."""
        return self.model_dump(exclude={"health"})

    def summary(self) -> dict[str, Any]:
        """A finished job's ``final_metrics``: its last epoch's numbers."""
        return self.model_dump(exclude={"health", "seconds"})


class MetricsPage(BaseModel):
    """Epochs after ``after``, at most ``limit``; ask again with ``after=next_after``."""

    job_id: str
    status: Status
    items: list[MetricRow]
    next_after: int | None = Field(description="Pass as `after` for the next page; null at end.")


class WeightsDocument(BaseModel):
    """Trained weights in Nielsen's orientation."""

    sizes: list[int]
    cost: str
    layers: list[LayerWeights]


class PredictRequest(BaseModel):
    """Rows of inputs, one sample per row."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]]}]},
    )

    inputs: list[list[float]] = Field(min_length=1)


class PredictResponse(BaseModel):
    """Network outputs per row; ``labels`` (class names) for classification jobs."""

    outputs: list[list[float]]
    labels: list[str] | None


#: "Try it out" bodies of POST /v1/jobs and POST /v1/jobs/{id}/predict in /docs.
CREATE_EXAMPLES = {
    "xor": example(
        "Train XOR on the newest dataset named 'xor'",
        {"dataset_name": "xor", "network": XOR_NETWORK, "training": XOR_TRAINING},
    ),
    "by_id": example(
        "Train on a dataset by id (paste an id from POST /v1/datasets/generate)",
        {"dataset_id": "<dataset id>", "network": XOR_NETWORK, "training": XOR_TRAINING},
    ),
}
PREDICT_EXAMPLES = {
    "xor": example("The four XOR corners", {"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]]})
}
