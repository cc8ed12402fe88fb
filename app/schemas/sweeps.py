"""Sweep requests and responses: a base job spec, a search space, Optuna's sampler and
pruner, the objective, and the trials (docs/sweeps.md).

Pydantic checks each part on its own here (types, names, ``low < high``, options that
belong to the chosen kind); ``app.services.sweeps`` checks what needs the job spec and
the dataset (that a path names a field, that every value the space can produce is a
valid value of that field, the grid's size, the objective's metric).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import example
from app.schemas.jobs import NetworkSpec, Status, TrainingConfig

DimensionType = Literal["choice", "uniform", "log_uniform", "int"]
SamplerKind = Literal["grid", "random", "tpe"]
PrunerKind = Literal["none", "median", "successive_halving", "hyperband"]
Metric = Literal["validation_loss", "validation_accuracy", "train_loss", "train_accuracy"]
Direction = Literal["minimize", "maximize"]
SweepState = Literal["queued", "running", "succeeded", "failed", "cancelled"]

#: max_trials of a random or tpe sweep that does not say.
DEFAULT_MAX_TRIALS = 20


class Dimension(BaseModel):
    """One searched field: ``choice`` (``values``), ``uniform`` or ``log_uniform``
    (``low``, ``high``: floats), ``int`` (``low``, ``high``, optional ``log``)."""

    model_config = ConfigDict(extra="forbid")

    type: DimensionType
    values: list[Any] | None = Field(default=None, description="choice: the candidates.")
    low: int | float | None = Field(default=None, description="uniform, log_uniform, int.")
    high: int | float | None = Field(default=None, description="uniform, log_uniform, int.")
    log: bool | None = Field(default=None, description="int only: sample on a log scale.")

    @model_validator(mode="after")
    def _fits_its_type(self) -> Dimension:
        if self.type == "choice":
            if self.values is None:
                raise ValueError("a choice needs 'values'")
            if not self.values:
                raise ValueError("values is empty: give at least one value")
            for i, value in enumerate(self.values):
                if value in self.values[:i]:
                    raise ValueError(f"values[{i}] repeats the value {value!r}")
            if self.low is not None or self.high is not None or self.log is not None:
                raise ValueError("a choice takes only 'values' (no low, high or log)")
            return self
        if self.values is not None:
            raise ValueError(f"{self.type} takes low and high, not values")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} needs both 'low' and 'high'")
        if self.log is not None and self.type != "int":
            raise ValueError(f"log is only for type int ({self.type} decides it by its name)")
        if self.type == "int":
            for name in ("low", "high"):
                if not isinstance(getattr(self, name), int):
                    raise ValueError(f"int needs whole numbers: {name} is {getattr(self, name)}")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.type == "log_uniform" and self.low <= 0:
            raise ValueError(f"log_uniform needs low > 0 (got {self.low})")
        if self.type == "int" and self.log and self.low < 1:
            raise ValueError(f"int with log needs low >= 1 (got {self.low})")
        return self


_SAMPLER_OPTIONS = {
    "grid": set(),
    "random": set(),
    "tpe": {"n_startup_trials", "n_ei_candidates", "multivariate", "constant_liar"},
}
_PRUNER_OPTIONS = {
    "none": set(),
    "median": {"n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials"},
    "successive_halving": {
        "min_resource",
        "reduction_factor",
        "min_early_stopping_rate",
        "bootstrap_count",
    },
    "hyperband": {"min_resource", "max_resource", "reduction_factor", "bootstrap_count"},
}


def _only_own_options(model: BaseModel, kind: str, allowed: dict[str, set[str]]) -> None:
    given = {name for name in model.model_fields_set if name not in ("kind", "seed")}
    given = {name for name in given if getattr(model, name) is not None}
    foreign = sorted(given - allowed[kind])
    if foreign:
        takes = ", ".join(sorted(allowed[kind])) or "no options"
        raise ValueError(f"{', '.join(foreign)} is not an option of {kind} (it takes {takes})")


class Sampler(BaseModel):
    """Optuna's sampler: ``grid`` (every point of an all-``choice`` space), ``random``,
    ``tpe``; ``seed`` (chosen and shown when omitted) makes a grid or random sweep
    produce the same trials every time."""

    model_config = ConfigDict(extra="forbid")

    kind: SamplerKind = "tpe"
    seed: int | None = Field(default=None, ge=0, lt=2**32)
    n_startup_trials: int | None = Field(default=None, ge=0, description="tpe (default 10).")
    n_ei_candidates: int | None = Field(default=None, ge=1, description="tpe (default 24).")
    multivariate: bool | None = Field(default=None, description="tpe (default false).")
    constant_liar: bool | None = Field(
        default=None, description="tpe: avoid the points of running trials (default false)."
    )

    @model_validator(mode="after")
    def _options_of_kind(self) -> Sampler:
        _only_own_options(self, self.kind, _SAMPLER_OPTIONS)
        return self


class Pruner(BaseModel):
    """Optuna's pruner, asked after every epoch of a trial but its last: ``none``,
    ``median``, ``successive_halving``, ``hyperband``, with Optuna's options."""

    model_config = ConfigDict(extra="forbid")

    kind: PrunerKind = "none"
    n_startup_trials: int | None = Field(default=None, ge=0, description="median (default 5).")
    n_warmup_steps: int | None = Field(default=None, ge=0, description="median (default 0).")
    interval_steps: int | None = Field(default=None, ge=1, description="median (default 1).")
    n_min_trials: int | None = Field(default=None, ge=1, description="median (default 1).")
    min_resource: int | Literal["auto"] | None = Field(
        default=None,
        description="successive_halving (default 'auto'), hyperband (default 1): epochs "
        "before the first rung.",
    )
    max_resource: int | Literal["auto"] | None = Field(
        default=None, description="hyperband (default: training.epochs)."
    )
    reduction_factor: int | None = Field(
        default=None, ge=2, description="successive_halving (default 4), hyperband (default 3)."
    )
    min_early_stopping_rate: int | None = Field(
        default=None, ge=0, description="successive_halving (default 0)."
    )
    bootstrap_count: int | None = Field(
        default=None, ge=0, description="successive_halving, hyperband (default 0)."
    )

    @model_validator(mode="after")
    def _options_of_kind(self) -> Pruner:
        _only_own_options(self, self.kind, _PRUNER_OPTIONS)
        for name in ("min_resource", "max_resource"):
            value = getattr(self, name)
            if isinstance(value, int) and value < 1:
                raise ValueError(f"{name} must be 'auto' or at least 1 (got {value})")
        return self


class Objective(BaseModel):
    """What a trial is judged by: a metric of its epochs (the pruner sees it every epoch,
    the sampler its last epoch's value) and whether lower or higher is better (default:
    minimize losses, maximize accuracies)."""

    model_config = ConfigDict(extra="forbid")

    metric: Metric = "validation_loss"
    direction: Direction | None = None

    @model_validator(mode="after")
    def _default_direction(self) -> Objective:
        if self.direction is None:
            self.direction = "maximize" if self.metric.endswith("accuracy") else "minimize"
        return self


XOR_SWEEP: dict[str, Any] = {
    "name": "xor-grid",
    "dataset_name": "xor",
    "network": {"sizes": [2, 8, 1], "cost": "cross_entropy"},
    "training": {
        "epochs": 60,
        "batch_size": 10,
        "learning_rate": 2.0,
        "validation_fraction": 0.2,
        "seed": 0,
    },
    "space": {
        "training.learning_rate": {"type": "choice", "values": [0.5, 2.0, 5.0]},
        "network.sizes": {"type": "choice", "values": [[2, 4, 1], [2, 8, 1], [2, 16, 1]]},
    },
    "sampler": {"kind": "grid", "seed": 0},
    "pruner": {"kind": "none"},
    "objective": {"metric": "validation_accuracy", "direction": "maximize"},
    "parallelism": 2,
}
XOR_TPE_SWEEP: dict[str, Any] = {
    "name": "xor-tpe",
    "dataset_name": "xor",
    "network": {"sizes": [2, 8, 1], "cost": "cross_entropy"},
    "training": {
        "epochs": 100,
        "batch_size": 10,
        "learning_rate": 2.0,
        "validation_fraction": 0.2,
        "seed": 0,
    },
    "space": {
        "training.learning_rate": {"type": "log_uniform", "low": 0.1, "high": 10},
        "network.sizes": {"type": "choice", "values": [[2, 4, 1], [2, 8, 1], [2, 16, 1]]},
        "training.l2": {"type": "uniform", "low": 0, "high": 0.1},
        "training.batch_size": {"type": "int", "low": 2, "high": 32, "log": True},
    },
    "sampler": {"kind": "tpe", "seed": 0},
    "pruner": {"kind": "successive_halving", "min_resource": 10},
    "objective": {"metric": "validation_loss", "direction": "minimize"},
    "max_trials": 12,
    "parallelism": 2,
}


class SweepCreate(BaseModel):
    """A hyperparameter search over the fields of one job spec."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [XOR_SWEEP]})

    name: str = Field(default="sweep", min_length=1, max_length=200)
    dataset_id: str | None = Field(default=None, description="The dataset every trial uses.")
    dataset_name: str | None = Field(
        default=None, description="Alternative to dataset_id: the newest dataset with this name."
    )
    network: NetworkSpec = Field(description="The base network; the space overrides fields.")
    training: TrainingConfig = Field(
        default_factory=TrainingConfig,
        description="The base training config; the space overrides fields.",
    )
    space: dict[str, Dimension] = Field(
        min_length=1,
        description="Searched fields by path ('training.learning_rate', 'network.sizes').",
    )
    sampler: Sampler = Field(default_factory=Sampler)
    pruner: Pruner = Field(default_factory=Pruner)
    objective: Objective = Field(default_factory=Objective)
    max_trials: int | None = Field(
        default=None,
        ge=1,
        description=f"Trials in all; default: the grid's size (grid), {DEFAULT_MAX_TRIALS} "
        "otherwise.",
    )
    parallelism: int = Field(default=1, ge=1, description="At most this many trials at once.")

    @model_validator(mode="after")
    def _one_dataset_reference(self) -> SweepCreate:
        if (self.dataset_id is None) == (self.dataset_name is None):
            raise ValueError("give exactly one of dataset_id and dataset_name")
        return self


class Best(BaseModel):
    """The best completed trial so far (pruned and failed trials do not compete)."""

    job_id: str | None
    number: int
    params: dict[str, Any]
    value: float


class Sweep(BaseModel):
    """A sweep's spec, progress (trial jobs per status) and best trial."""

    id: str
    name: str
    status: SweepState
    dataset_id: str | None
    network: dict[str, Any]
    training: dict[str, Any]
    space: dict[str, Any]
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    objective: dict[str, Any]
    max_trials: int
    parallelism: int
    counts: dict[str, int] = Field(description="The trials' jobs per status.")
    best: Best | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None = Field(default=None, description="Why a failed sweep failed.")


class SweepList(BaseModel):
    """One page of sweeps, newest first."""

    items: list[Sweep]
    total: int
    limit: int
    offset: int


class Trial(BaseModel):
    """One trial: the params it was given, its job, and how it did."""

    number: int
    job_id: str | None = Field(description="Its job (null if the job was deleted).")
    params: dict[str, Any] = Field(description="The sampled value of each searched path.")
    status: Status | None = Field(description="Its job's status.")
    value: float | None = Field(
        description="The objective told to Optuna once the trial ended (a pruned trial: "
        "its last epoch's)."
    )
    latest: float | None = Field(description="The objective at its latest epoch so far.")
    epochs: int = Field(description="Epochs actually trained.")
    pruned_epoch: int | None = Field(description="The epoch at which the pruner stopped it.")
    error: str | None = Field(description="Why its job failed (e.g. params the job refuses).")


class TrialList(BaseModel):
    """Every trial of a sweep, by number."""

    sweep_id: str
    items: list[Trial]


#: "Try it out" bodies of POST /v1/sweeps in /docs (both train on the dataset named "xor").
CREATE_EXAMPLES = {
    "grid": example("A 3 x 3 grid on the newest dataset named 'xor'", XOR_SWEEP),
    "tpe": example("TPE with successive halving on 'xor'", XOR_TPE_SWEEP),
}
