"""Network specs and training configs: frozen dataclasses that validate themselves.

``validate()`` raises :class:`SpecError` with a dotted field path ("network.cost",
"training.batch_size") and a message a user can act on, before any training starts.
``to_dict()``/``from_dict()`` round-trip through JSON-ready dicts (unknown keys are
refused so a typo is not silently ignored).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from app.nn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from app.nn.costs import COSTS
from app.nn.errors import SpecError

INIT_NAMES: tuple[str, ...] = ("default", "large", "xavier", "he")
OPTIMIZER_NAMES: tuple[str, ...] = ("sgd", "momentum", "adam")
DTYPES: tuple[str, ...] = ("float32", "float64")
LR_SCHEDULES: tuple[str, ...] = ("constant", "step", "plateau")


def _one_of(field_: str, value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise SpecError(field_, f"{value!r} is not one of {', '.join(allowed)}")


def _from_dict(cls: type, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise SpecError(prefix, "expected an object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise SpecError(f"{prefix}.{unknown[0]}", "unknown field")
    return cls(**d)


@dataclass(frozen=True)
class NetworkSpec:
    """The architecture: layer sizes, activations, cost and initialiser.

    ``activations`` (length L = len(sizes) - 1), when given, overrides
    ``hidden_activation``/``output_activation`` layer by layer.
    """

    sizes: list[int]
    hidden_activation: str = "sigmoid"
    output_activation: str = "sigmoid"
    cost: str = "cross_entropy"
    init: str = "default"
    activations: list[str] | None = None

    @property
    def layer_activations(self) -> list[str]:
        """The activation name of each of the L weight layers."""
        if self.activations is not None:
            return list(self.activations)
        n_layers = len(self.sizes) - 1
        return [self.hidden_activation] * (n_layers - 1) + [self.output_activation]

    def validate(self) -> NetworkSpec:
        """Raise SpecError (field "network.…") if anything is wrong; return self."""
        sizes = self.sizes
        if not isinstance(sizes, list | tuple) or len(sizes) < 2:
            raise SpecError("network.sizes", "needs at least 2 layer sizes (inputs, outputs)")
        for i, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise SpecError(f"network.sizes[{i}]", f"must be a positive integer, got {n!r}")
        _one_of("network.hidden_activation", self.hidden_activation, HIDDEN_ACTIVATIONS)
        _one_of("network.output_activation", self.output_activation, OUTPUT_ACTIVATIONS)
        if self.activations is not None:
            if not isinstance(self.activations, list | tuple):
                raise SpecError("network.activations", "must be a list of activation names")
            if len(self.activations) != len(sizes) - 1:
                raise SpecError(
                    "network.activations",
                    f"needs {len(sizes) - 1} names (one per weight layer), "
                    f"got {len(self.activations)}",
                )
            for i, name in enumerate(self.activations):
                last = i == len(self.activations) - 1
                _one_of(
                    f"network.activations[{i}]",
                    name,
                    OUTPUT_ACTIVATIONS if last else HIDDEN_ACTIVATIONS,
                )
        _one_of("network.cost", self.cost, tuple(COSTS))
        _one_of("network.init", self.init, INIT_NAMES)
        out = self.layer_activations[-1]
        cost = COSTS[self.cost]
        if cost.requires is not None and out not in cost.requires:
            raise SpecError(
                "network.cost",
                f"{self.cost} {cost.requirement} (output activation is {out})",
            )
        if out == "softmax" and sizes[-1] < 2:
            raise SpecError("network.output_activation", "softmax needs at least 2 outputs")
        assert all(name in ACTIVATIONS for name in self.layer_activations)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sizes"] = list(self.sizes)
        if self.activations is None:
            del d["activations"]
        else:
            d["activations"] = list(self.activations)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetworkSpec:
        if isinstance(d, dict) and "sizes" not in d:
            raise SpecError("network.sizes", "is required")
        spec: NetworkSpec = _from_dict(cls, d, "network")
        return spec


def _number(
    field_: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    integer: bool = False,
) -> None:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        raise SpecError(field_, f"must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(field_, f"must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise SpecError(field_, f"must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise SpecError(field_, f"must be <= {high}, got {value!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """How to train: epochs, mini-batches, optimizer, schedule, early stopping, dtype.

    ``lr_schedule``: "constant"; "step" (lr *= lr_decay every lr_step_epochs epochs);
    "plateau" (Nielsen: lr *= lr_decay, i.e. halve by default, when the monitored loss has
    not improved for lr_patience epochs). The monitored loss for "plateau" and early
    stopping is the validation loss, or the train loss when there is no validation split.
    """

    epochs: int = 30
    batch_size: int = 10
    learning_rate: float = 0.5
    l2: float = 0.0
    optimizer: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    validation_fraction: float = 0.0
    shuffle: bool = True
    seed: int = 0
    dtype: str = "float64"
    lr_schedule: str = "constant"
    lr_step_epochs: int = 10
    lr_decay: float = 0.5
    lr_patience: int = 10
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0

    def validate(self, n_samples: int | None = None) -> TrainingConfig:
        """Raise SpecError (field "training.…"); with ``n_samples`` also check the split."""
        p = "training."
        _number(p + "epochs", self.epochs, low=1, integer=True)
        _number(p + "batch_size", self.batch_size, low=1, integer=True)
        _number(p + "learning_rate", self.learning_rate, low=0, low_open=True)
        _number(p + "l2", self.l2, low=0)
        _one_of(p + "optimizer", self.optimizer, OPTIMIZER_NAMES)
        _number(p + "momentum", self.momentum, low=0, high=1)
        if not isinstance(self.nesterov, bool):
            raise SpecError(p + "nesterov", f"must be true or false, got {self.nesterov!r}")
        if self.nesterov and self.optimizer != "momentum":
            raise SpecError(p + "nesterov", "only applies to optimizer 'momentum'")
        _number(p + "beta1", self.beta1, low=0, high=1)
        _number(p + "beta2", self.beta2, low=0, high=1)
        if self.beta1 >= 1:
            raise SpecError(p + "beta1", f"must be < 1, got {self.beta1!r}")
        if self.beta2 >= 1:
            raise SpecError(p + "beta2", f"must be < 1, got {self.beta2!r}")
        _number(p + "epsilon", self.epsilon, low=0, low_open=True)
        _number(p + "validation_fraction", self.validation_fraction, low=0)
        if self.validation_fraction >= 1:
            raise SpecError(
                p + "validation_fraction", f"must be < 1, got {self.validation_fraction!r}"
            )
        if not isinstance(self.shuffle, bool):
            raise SpecError(p + "shuffle", f"must be true or false, got {self.shuffle!r}")
        _number(p + "seed", self.seed, low=0, high=2**63 - 1, integer=True)
        _one_of(p + "dtype", self.dtype, DTYPES)
        _one_of(p + "lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _number(p + "lr_step_epochs", self.lr_step_epochs, low=1, integer=True)
        _number(p + "lr_decay", self.lr_decay, low=0, high=1, low_open=True)
        _number(p + "lr_patience", self.lr_patience, low=1, integer=True)
        if self.early_stopping_patience is not None:
            _number(
                p + "early_stopping_patience", self.early_stopping_patience, low=1, integer=True
            )
        _number(p + "early_stopping_min_delta", self.early_stopping_min_delta, low=0)
        if n_samples is not None:
            n_val, n_train = split_sizes(n_samples, self.validation_fraction)
            if n_val == 0 and self.validation_fraction > 0:
                raise SpecError(
                    p + "validation_fraction", f"leaves no validation sample out of {n_samples}"
                )
            if n_train < 1:
                raise SpecError(
                    p + "validation_fraction", f"leaves no training sample out of {n_samples}"
                )
            if self.batch_size > n_train:
                raise SpecError(
                    p + "batch_size",
                    f"{self.batch_size} is larger than the training split ({n_train} samples)",
                )
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingConfig:
        config: TrainingConfig = _from_dict(cls, d, "training")
        return config


def split_sizes(n_samples: int, validation_fraction: float) -> tuple[int, int]:
    """(n_validation, n_train): the validation split is round(n · fraction) samples."""
    n_val = int(round(n_samples * validation_fraction))
    return n_val, n_samples - n_val
