"""Network specs and training configs: frozen dataclasses that are valid by construction.

Constructing a :class:`NetworkSpec` or :class:`TrainingConfig` checks it and raises
:class:`SpecError` with a dotted field path ("network.cost", "training.batch_size") and a
message a user can act on, so an instance that exists is one the engine can train.
``validate()`` repeats the check (and, with ``n_samples``, checks the validation split
and the batch size against a dataset).

Each field carries its rules in its ``metadata``: ``doc`` (what it means), the bounds
``gt``/``ge``/``lt``/``le`` (in pydantic's vocabulary), ``allow_inf_nan`` and
``choices`` (the registry whose keys are the allowed names). The engine checks them
here; the API builds its request models from the same metadata
(``app/schemas/spec.py``), so a rule or a registry entry is written once.

``to_dict()``/``from_dict()`` round-trip through JSON-ready dicts (unknown keys are
refused so a typo is not silently ignored).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.nn.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from app.nn.costs import COSTS
from app.nn.errors import SpecError
from app.nn.init import INITIALIZERS
from app.nn.optimizers import OPTIMIZERS
from app.nn.schedules import SCHEDULES

DTYPES: tuple[str, ...] = ("float32", "float64")
MAX_LAYERS = 64
"""Most entries in ``sizes`` (inputs, hidden layers, outputs)."""
MAX_SEED = 2**63 - 1


def rule(default: Any, doc: str, **rules: Any) -> Any:
    """A dataclass field with its default, its description and its rules (see module)."""
    return field(default=default, metadata={"doc": doc, **rules})


def rules_of(cls: type, name: str) -> Mapping[str, Any]:
    """The metadata of field ``name`` of a spec dataclass."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata
    raise KeyError(name)


def choice_names(choices: Iterable[str]) -> tuple[str, ...]:
    """The allowed names of a ``choices`` rule (a registry's keys, in registry order)."""
    return tuple(choices)


def _one_of(field_: str, value: object, allowed: Iterable[str]) -> None:
    names = choice_names(allowed)
    if not isinstance(value, str) or value not in names:
        raise SpecError(field_, f"{value!r} is not one of {', '.join(names)}")


def _bounded(field_: str, value: object, rules: Mapping[str, Any], integer: bool) -> None:
    """Check a number against its field's bounds; for integers ``gt k`` reads ``>= k+1``."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        raise SpecError(field_, f"must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise SpecError(field_, f"must be finite, got {value!r}")
    checks = (
        ("gt", lambda lim: value > lim, ">"),
        ("ge", lambda lim: value >= lim, ">="),
        ("lt", lambda lim: value < lim, "<"),
        ("le", lambda lim: value <= lim, "<="),
    )
    for key, holds, sign in checks:
        if key in rules and not holds(rules[key]):
            limit = rules[key]
            if integer and key in ("gt", "lt"):
                sign, limit = (">=", limit + 1) if key == "gt" else ("<=", limit - 1)
            raise SpecError(field_, f"must be {sign} {limit}, got {value!r}")


def _check_fields(spec: Any, prefix: str) -> None:
    """Every scalar field of ``spec`` against its own rules (types from the annotations)."""
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        path = f"{prefix}.{f.name}"
        rules = f.metadata
        if "choices" in rules:
            _one_of(path, value, rules["choices"])
        elif f.type in ("bool",):
            if not isinstance(value, bool):
                raise SpecError(path, f"must be true or false, got {value!r}")
        elif f.type in ("int", "int | None", "float", "float | None"):
            if value is None and "None" in str(f.type):
                continue
            _bounded(path, value, rules, integer=str(f.type).startswith("int"))


@dataclass(frozen=True)
class NetworkSpec:
    """The architecture: layer sizes, activations, cost and initialiser.

    ``activations`` (length L = len(sizes) - 1), when given, overrides
    ``hidden_activation``/``output_activation`` layer by layer.
    """

    sizes: list[int] = field(
        metadata={
            "doc": "Layer sizes [n_0, …, n_L]: inputs, hidden layers, outputs.",
            "min_length": 2,
            "max_length": MAX_LAYERS,
        }
    )
    hidden_activation: str = rule(
        "sigmoid", "Activation of every hidden layer.", choices=HIDDEN_ACTIVATIONS
    )
    output_activation: str = rule(
        "sigmoid", "Activation of the output layer.", choices=OUTPUT_ACTIVATIONS
    )
    cost: str = rule("cross_entropy", "The per-sample cost C_x.", choices=COSTS)
    init: str = rule("default", "Weight initialiser.", choices=INITIALIZERS)
    activations: list[str] | None = rule(
        None, "Per-layer activations (length len(sizes)-1); overrides the two above."
    )

    def __post_init__(self) -> None:
        self.validate()

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
        if len(sizes) > MAX_LAYERS:
            raise SpecError("network.sizes", f"has {len(sizes)} layer sizes; at most {MAX_LAYERS}")
        for i, n in enumerate(sizes):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise SpecError(f"network.sizes[{i}]", f"must be a positive integer, got {n!r}")
        _check_fields(self, "network")
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
                allowed = OUTPUT_ACTIVATIONS if last else HIDDEN_ACTIVATIONS
                _one_of(f"network.activations[{i}]", name, allowed)
        out = self.layer_activations[-1]
        cost = COSTS[self.cost]
        if cost.requires is not None and out not in cost.requires:
            raise SpecError(
                "network.cost",
                f"{self.cost} {cost.requirement} (output activation is {out})",
            )
        if out == "softmax" and sizes[-1] < 2:
            raise SpecError("network.output_activation", "softmax needs at least 2 outputs")
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


@dataclass(frozen=True)
class TrainingConfig:
    """How to train: epochs, mini-batches, optimizer, schedule, early stopping, dtype.

    The monitored loss for the ``plateau`` schedule and early stopping is the validation
    loss, or the train loss when there is no validation split.
    """

    epochs: int = rule(30, "Passes over the training split.", gt=0)
    batch_size: int = rule(10, "Samples per mini-batch (m).", gt=0)
    learning_rate: float = rule(0.5, "η, the step size.", gt=0, allow_inf_nan=False)
    l2: float = rule(
        0.0, "λ, L2 strength (Nielsen: W ← (1 − ηλ/n) W − …).", ge=0, allow_inf_nan=False
    )
    optimizer: str = rule("sgd", "Update rule on the gradients.", choices=OPTIMIZERS)
    momentum: float = rule(0.0, "μ of optimizer 'momentum'.", ge=0, lt=1)
    nesterov: bool = rule(False, "Nesterov look-ahead (optimizer 'momentum' only).")
    beta1: float = rule(0.9, "Adam's β₁.", ge=0, lt=1)
    beta2: float = rule(0.999, "Adam's β₂.", ge=0, lt=1)
    epsilon: float = rule(1e-8, "Adam's ε.", gt=0, allow_inf_nan=False)
    validation_fraction: float = rule(
        0.0, "Share of the samples held out for validation (seeded split).", ge=0, lt=1
    )
    shuffle: bool = rule(True, "Reshuffle the training split every epoch.")
    seed: int = rule(0, "Seeds the initial weights, the split and the shuffles.", ge=0)
    dtype: str = rule("float64", "Floating-point type of the training arithmetic.", choices=DTYPES)
    lr_schedule: str = rule("constant", "Learning-rate schedule.", choices=SCHEDULES)
    lr_step_epochs: int = rule(10, "Schedule 'step': epochs between decays.", gt=0)
    lr_decay: float = rule(0.5, "Schedules 'step' and 'plateau': the decay factor.", gt=0, le=1)
    lr_patience: int = rule(
        10, "Schedule 'plateau': epochs without improvement before a decay.", gt=0
    )
    early_stopping_patience: int | None = rule(
        None, "Stop after this many epochs without improvement (none: never).", gt=0
    )
    early_stopping_min_delta: float = rule(
        0.0, "Smallest decrease of the monitored loss that counts.", ge=0, allow_inf_nan=False
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, n_samples: int | None = None) -> TrainingConfig:
        """Raise SpecError (field "training.…"); with ``n_samples`` also check the split."""
        _check_fields(self, "training")
        if self.seed > MAX_SEED:
            raise SpecError("training.seed", f"must be <= {MAX_SEED}, got {self.seed!r}")
        if self.nesterov and self.optimizer != "momentum":
            raise SpecError("training.nesterov", "only applies to optimizer 'momentum'")
        if n_samples is not None:
            self.check_split(n_samples)
        return self

    def check_split(self, n_samples: int) -> None:
        """Raise SpecError unless the split of ``n_samples`` leaves both parts usable and
        a batch fits in the training part."""
        p = "training."
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainingConfig:
        config: TrainingConfig = _from_dict(cls, d, "training")
        return config


def _from_dict(cls: type, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise SpecError(prefix, "expected an object")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise SpecError(f"{prefix}.{unknown[0]}", "unknown field")
    return cls(**d)


def split_sizes(n_samples: int, validation_fraction: float) -> tuple[int, int]:
    """(n_validation, n_train): the validation split is round(n · fraction) samples."""
    n_val = int(round(n_samples * validation_fraction))
    return n_val, n_samples - n_val
