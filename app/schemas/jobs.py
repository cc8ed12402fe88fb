"""Job requests and responses. ``NetworkSpec``/``TrainingConfig`` mirror the engine's
dataclasses field for field (same names and defaults; a test checks they agree) and
convert with ``app.nn.NetworkSpec.from_dict(model.model_dump())``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Activation = Literal["sigmoid", "tanh", "relu", "identity", "softmax"]
HiddenActivation = Literal["sigmoid", "tanh", "relu", "identity"]
Cost = Literal["quadratic", "cross_entropy", "log_likelihood"]
Init = Literal["default", "large", "xavier", "he"]
Optimizer = Literal["sgd", "momentum", "adam"]
DType = Literal["float32", "float64"]
Schedule = Literal["constant", "step", "plateau"]
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]

XOR_NETWORK: dict[str, Any] = {
    "sizes": [2, 8, 1],
    "hidden_activation": "sigmoid",
    "output_activation": "sigmoid",
    "cost": "cross_entropy",
    "init": "default",
}
XOR_TRAINING: dict[str, Any] = {
    "epochs": 300,
    "batch_size": 10,
    "learning_rate": 2.0,
    "l2": 0.0,
    "optimizer": "sgd",
    "momentum": 0.0,
    "validation_fraction": 0.0,
    "shuffle": True,
    "seed": 0,
    "dtype": "float64",
}


class NetworkSpec(BaseModel):
    """Layer sizes ``[n_0, ..., n_L]`` and the functions of each layer (engine ``NetworkSpec``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [XOR_NETWORK]})

    sizes: list[int] = Field(min_length=2, max_length=64)
    hidden_activation: HiddenActivation = "sigmoid"
    output_activation: Activation = "sigmoid"
    cost: Cost = "cross_entropy"
    init: Init = "default"
    activations: list[Activation] | None = Field(
        default=None,
        description="Per-layer activations (length len(sizes)-1); overrides the two above.",
    )

    @model_validator(mode="after")
    def _positive_sizes(self) -> NetworkSpec:
        for i, n in enumerate(self.sizes):
            if n < 1:
                raise ValueError(f"sizes[{i}] must be a positive integer, got {n}")
        return self


class TrainingConfig(BaseModel):
    """How to train (engine ``TrainingConfig``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [XOR_TRAINING]})

    epochs: int = Field(default=30, gt=0)
    batch_size: int = Field(default=10, gt=0)
    learning_rate: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    l2: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    optimizer: Optimizer = "sgd"
    momentum: float = Field(default=0.0, ge=0, lt=1)
    nesterov: bool = False
    beta1: float = Field(default=0.9, ge=0, lt=1)
    beta2: float = Field(default=0.999, ge=0, lt=1)
    epsilon: float = Field(default=1e-8, gt=0, allow_inf_nan=False)
    validation_fraction: float = Field(default=0.0, ge=0, lt=1)
    shuffle: bool = True
    seed: int = Field(default=0, ge=0)
    dtype: DType = "float64"
    lr_schedule: Schedule = "constant"
    lr_step_epochs: int = Field(default=10, gt=0)
    lr_decay: float = Field(default=0.5, gt=0, le=1)
    lr_patience: int = Field(default=10, gt=0)
    early_stopping_patience: int | None = Field(default=None, gt=0)
    early_stopping_min_delta: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    max_runtime_seconds: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Service-side (not an engine field): fail the job once it has trained "
        "this many seconds, all attempts together.",
    )


class LayerWeights(BaseModel):
    """One layer of a weights document: ``weights`` is ``n_l x n_{l-1}`` (Nielsen)."""

    weights: list[list[float]]
    biases: list[float]
    activation: str | None = None


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
    network: NetworkSpec
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    initial_weights: list[LayerWeights] | None = Field(
        default=None, description="Warm start: the `layers` list of a weights document."
    )

    @model_validator(mode="after")
    def _one_dataset_reference(self) -> JobCreate:
        if (self.dataset_id is None) == (self.dataset_name is None):
            raise ValueError("give exactly one of dataset_id and dataset_name")
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


class JobList(BaseModel):
    """One page of jobs, newest first."""

    items: list[Job]
    total: int
    limit: int
    offset: int


class LayerHealth(BaseModel):
    """Training health of one layer at the end of an epoch (from its last mini-batch)."""

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
