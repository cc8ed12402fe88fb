"""The job spec as the API takes it: network, training, initial weights.

The field names, defaults, bounds, descriptions and choice lists come from the engine's
own spec (``app.nn.spec``: each dataclass field's metadata, the registries behind its
``choices``), so adding an activation, a cost, an optimizer or a schedule to its
registry changes the API, its OpenAPI enums and its validation with it.

Validation happens once, at the edge: pydantic checks types, names and bounds here, and
:meth:`JobSpec.engine` builds the engine's dataclasses, whose construction checks the
rules that span fields (cost vs output activation, per-layer activations, Nesterov).
The same :class:`JobSpec` is what is stored (``model_dump``) and what the worker reloads
(``JobSpec.stored``), one mapping each way.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app import nn
from app.nn.spec import choice_names, rules_of

_BOUNDS = ("gt", "ge", "lt", "le", "allow_inf_nan", "min_length", "max_length")


def spec_field(cls: type, name: str) -> Any:
    """A pydantic ``Field`` with the default, description and bounds of the engine's
    dataclass field ``cls.name``."""
    found = next(f for f in dataclasses.fields(cls) if f.name == name)
    kwargs = {key: found.metadata[key] for key in _BOUNDS if key in found.metadata}
    if found.default is not dataclasses.MISSING:
        kwargs["default"] = found.default
    return Field(description=found.metadata.get("doc"), **kwargs)


if TYPE_CHECKING:
    Activation = str
    HiddenActivation = str
    Cost = str
    Init = str
    Optimizer = str
    DType = str
    Schedule = str
else:

    def _choices(cls: type, name: str) -> Any:
        return Literal[choice_names(rules_of(cls, name)["choices"])]

    Activation = _choices(nn.NetworkSpec, "output_activation")
    HiddenActivation = _choices(nn.NetworkSpec, "hidden_activation")
    Cost = _choices(nn.NetworkSpec, "cost")
    Init = _choices(nn.NetworkSpec, "init")
    Optimizer = _choices(nn.TrainingConfig, "optimizer")
    DType = _choices(nn.TrainingConfig, "dtype")
    Schedule = _choices(nn.TrainingConfig, "lr_schedule")

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

_NET = nn.NetworkSpec
_TRAIN = nn.TrainingConfig
#: TrainingConfig fields of the service, not the engine: TrainingConfig.engine() leaves
#: them out.
SERVICE_FIELDS = frozenset({"max_runtime_seconds", "snapshot_every"})


class NetworkSpec(BaseModel):
    """Layer sizes ``[n_0, ..., n_L]`` and the functions of each layer (engine ``NetworkSpec``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [XOR_NETWORK]})

    sizes: list[int] = spec_field(_NET, "sizes")
    hidden_activation: HiddenActivation = spec_field(_NET, "hidden_activation")
    output_activation: Activation = spec_field(_NET, "output_activation")
    cost: Cost = spec_field(_NET, "cost")
    init: Init = spec_field(_NET, "init")
    activations: list[Activation] | None = spec_field(_NET, "activations")

    def engine(self) -> nn.NetworkSpec:
        """The engine's spec; SpecError ("network.…") when fields do not fit together."""
        return nn.NetworkSpec(**self.model_dump(exclude_none=True))


class TrainingConfig(BaseModel):
    """How to train (engine ``TrainingConfig``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [XOR_TRAINING]})

    epochs: int = spec_field(_TRAIN, "epochs")
    batch_size: int = spec_field(_TRAIN, "batch_size")
    learning_rate: float = spec_field(_TRAIN, "learning_rate")
    l2: float = spec_field(_TRAIN, "l2")
    optimizer: Optimizer = spec_field(_TRAIN, "optimizer")
    momentum: float = spec_field(_TRAIN, "momentum")
    nesterov: bool = spec_field(_TRAIN, "nesterov")
    beta1: float = spec_field(_TRAIN, "beta1")
    beta2: float = spec_field(_TRAIN, "beta2")
    epsilon: float = spec_field(_TRAIN, "epsilon")
    validation_fraction: float = spec_field(_TRAIN, "validation_fraction")
    shuffle: bool = spec_field(_TRAIN, "shuffle")
    seed: int = spec_field(_TRAIN, "seed")
    dtype: DType = spec_field(_TRAIN, "dtype")
    lr_schedule: Schedule = spec_field(_TRAIN, "lr_schedule")
    lr_step_epochs: int = spec_field(_TRAIN, "lr_step_epochs")
    lr_decay: float = spec_field(_TRAIN, "lr_decay")
    lr_patience: int = spec_field(_TRAIN, "lr_patience")
    early_stopping_patience: int | None = spec_field(_TRAIN, "early_stopping_patience")
    early_stopping_min_delta: float = spec_field(_TRAIN, "early_stopping_min_delta")
    max_runtime_seconds: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Service-side (not an engine field): fail the job once it has trained "
        "this many seconds, all attempts together.",
    )
    snapshot_every: int | None = Field(
        default=None,
        ge=1,
        description="Service-side (not an engine field): keep the weights after every "
        "this many epochs (epochs k with k % snapshot_every == 0), served by "
        "GET /v1/jobs/{id}/weights?epoch=k and announced on the event stream; null: none. "
        "At most BACKPROP_MAX_SNAPSHOTS snapshots and BACKPROP_MAX_SNAPSHOT_VALUES "
        "snapshots x parameters per job (422 at submit above).",
    )

    def engine(self) -> nn.TrainingConfig:
        """The engine's config (the service's own fields left out)."""
        return nn.TrainingConfig(**self.model_dump(exclude=set(SERVICE_FIELDS)))


class LayerWeights(BaseModel):
    """One layer of a weights document: ``weights`` is ``n_l x n_{l-1}`` (Nielsen)."""

    weights: list[list[float]]
    biases: list[float]
    activation: str | None = None


class JobSpec(BaseModel):
    """What a job trains: its network, its training config and optional start weights.

    ``network``/``training`` are stored as their ``model_dump()`` in the job's JSON
    columns and reloaded with :meth:`stored`; :meth:`engine` gives the engine's objects.
    """

    network: NetworkSpec
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    initial_weights: list[LayerWeights] | None = None

    @classmethod
    def stored(
        cls,
        network: dict[str, Any],
        training: dict[str, Any],
        initial_weights: list[dict[str, Any]] | None = None,
    ) -> JobSpec:
        """The spec of a stored job (the inverse of :meth:`columns`)."""
        return cls.model_validate(
            {"network": network, "training": training, "initial_weights": initial_weights}
        )

    def columns(self) -> dict[str, Any]:
        """The job row's ``network``, ``training`` and ``initial_weights`` values."""
        return {
            "network": self.network.model_dump(),
            "training": self.training.model_dump(),
            "initial_weights": self.initial_layers(),
        }

    def initial_layers(self) -> list[dict[str, Any]] | None:
        """``initial_weights`` as the engine's ``Network.from_layers`` takes them."""
        if self.initial_weights is None:
            return None
        return [layer.model_dump(exclude_none=True) for layer in self.initial_weights]

    def engine(self) -> tuple[nn.NetworkSpec, nn.TrainingConfig]:
        """The engine's spec and config; SpecError when the fields do not fit together."""
        return self.network.engine(), self.training.engine()
