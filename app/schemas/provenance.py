"""Provenance: where a job starts from (``from_job``), its lineage, its reproducibility
receipt and a replay's verdict (docs/reproducibility.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FromMode = Literal["continue", "weights"]


class FromJob(BaseModel):
    """Start a job from another job's result."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The job to start from (the parent).")
    mode: FromMode = Field(
        description="`continue`: carry on from its final training state (weights, optimizer "
        "state, RNG, schedule); `training.epochs` is the new total and nothing else may "
        "change, so the result is bit-identical to one run of that many epochs. "
        "`weights`: warm start from its final weights with a fresh optimizer; anything may "
        "change but the layer sizes."
    )


class ReplayVerdict(BaseModel):
    """A replay compared with the job it replays (``matches`` is null until it finishes)."""

    of: str = Field(description="The replayed job.")
    matches: bool | None = Field(
        default=None, description="Weights bit for bit and every metric row (but `seconds`)."
    )
    max_abs_diff: float | None = Field(
        default=None, description="Largest |difference| over every weight and bias."
    )
    weights_identical: bool | None = None
    metrics_identical: bool | None = None
    first_difference: str | None = Field(
        default=None, description="Where the results first differ, when they do."
    )
    differences: list[str] = Field(
        default_factory=list,
        description="Receipt fields (inputs or environment) in which the two runs differ.",
    )


class BlasLibrary(BaseModel):
    """One BLAS library loaded in the worker (threadpoolctl)."""

    model_config = ConfigDict(extra="allow")

    library: str | None = Field(default=None, examples=["openblas"])
    version: str | None = None
    kernel: str | None = Field(default=None, examples=["SkylakeX"])
    threads: int | None = None
    threading_layer: str | None = None


class Environment(BaseModel):
    """The worker's environment during an attempt (what could make a rerun differ)."""

    model_config = ConfigDict(extra="allow")

    backprop: str | None = None
    python: str | None = None
    numpy: str | None = None
    blas: list[BlasLibrary] = Field(default_factory=list)
    engine_gemm: str | None = Field(
        default=None,
        description="`blas`: the training step calls BLAS gemm directly; `numpy`: np.matmul.",
    )
    cpu: str | None = None
    os: str | None = None


class Seeds(BaseModel):
    """Where randomness comes from; null where a source is not used."""

    seed: int = Field(description="training.seed")
    initialization: int | None = Field(
        description="Network.initialize(seed); null when the job starts from given weights "
        "or a parent's state."
    )
    validation_split: int | None = Field(
        description="SeedSequence(seed).spawn(1)[0]; null without a validation split."
    )
    shuffle: int | None = Field(description="PCG64(seed); null when shuffle is off.")


class ReceiptInputs(BaseModel):
    """Everything that determines the result."""

    dataset_id: str | None
    dataset_sha256: str | None
    task: str
    classes: list[str] | None
    network: dict[str, Any] = Field(description="The network spec, every default filled in.")
    layer_activations: list[str] = Field(description="The activation of each weight layer.")
    training: dict[str, Any] = Field(description="The training config, every default filled in.")
    seeds: Seeds
    dtype: str
    initial_weights_sha256: str | None = Field(
        description="SHA-256 of the start weights (canonical JSON of the `layers` list)."
    )
    parent_id: str | None
    from_mode: FromMode | None
    start_state_sha256: str | None = Field(
        description="`continue`: digest of the parent's final training state started from."
    )
    start_epoch: int = Field(description="Epochs already done when this job started (continue).")


class ReceiptResult(BaseModel):
    """What the run produced."""

    status: str
    epochs: int = Field(description="Epochs finished.")
    weights_sha256: str | None = Field(
        description="Digest of the final weights and biases (compare receipts without "
        "downloading them)."
    )
    final_metrics: dict[str, Any] | None
    attempts: int
    finished_at: datetime | None


class Receipt(BaseModel):
    """A job's reproducibility receipt."""

    job_id: str
    inputs: ReceiptInputs
    environment: Environment | None = Field(
        description="Where it trained (the first attempt's; null before it started)."
    )
    resumed_in: list[Environment] = Field(
        default_factory=list,
        description="Other environments later attempts resumed it in (empty when all "
        "attempts ran in the same one).",
    )
    result: ReceiptResult
    replay: ReplayVerdict | None = None
