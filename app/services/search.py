"""The Optuna side of a sweep: the space as Optuna distributions, the sampler and the
pruner, and a study rebuilt from the sweep's record for each decision (no SQL here).

The service keeps no Optuna object between decisions. Each decision (ask for the next
trial, tell a finished one, report an epoch to the pruner) rebuilds an in-memory study
from the database's record of every trial (:class:`TrialRecord`: params, state, value,
Optuna's system attributes, the objective per epoch), makes the call through Optuna's
ask-and-tell interface, and hands back what changed for the caller to store in the same
transaction. So any process on any host can take the next decision, and a crash loses
nothing that was committed.

Samplers are stateless across decisions, so their seeds are too: ``grid`` shuffles its
points with the sweep's seed and gives trial *n* point *n* of that order; ``random`` and
``tpe`` draw trial *n* with a generator seeded by ``(seed, n)``. A seeded grid or random
sweep therefore produces the same trials every time, in any interleaving.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import ExperimentalWarning
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    SuccessiveHalvingPruner,
)
from optuna.samplers import BaseSampler, GridSampler, RandomSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState, create_trial

# Optuna logs every study it creates at INFO; a sweep creates one per decision.
optuna.logging.set_verbosity(optuna.logging.WARNING)

#: Optuna trial states as stored in ``sweep_trials.state``.
RUNNING, COMPLETE, PRUNED, FAIL = "RUNNING", "COMPLETE", "PRUNED", "FAIL"
_STATES = {
    RUNNING: TrialState.RUNNING,
    COMPLETE: TrialState.COMPLETE,
    PRUNED: TrialState.PRUNED,
    FAIL: TrialState.FAIL,
}


@dataclass
class TrialRecord:
    """What the database knows of one trial, as Optuna needs it."""

    number: int
    params: dict[str, Any]
    state: str = RUNNING
    value: float | None = None
    system_attrs: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)


class _GridSampler(GridSampler):
    """Optuna's grid sampler without the ``study.stop()`` its ``after_trial`` calls once
    every point has been handed out: ``stop`` raises ``RuntimeError`` outside
    ``Study.optimize``, and a sweep ends by its own count instead (``max_trials`` is at
    most the grid's size, and trial *n* gets point *n*, so every point runs once)."""

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None


# -- the space ----------------------------------------------------------------------------


def distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, BaseDistribution]:
    """Each searched path's Optuna distribution, in path order. A ``choice`` is
    categorical over the indices of its values (Optuna's categories must be scalars;
    values may be lists, like ``network.sizes``)."""
    out: dict[str, BaseDistribution] = {}
    for path in sorted(space):
        dim = space[path]
        kind = dim["type"]
        if kind == "choice":
            out[path] = CategoricalDistribution(tuple(range(len(dim["values"]))))
        elif kind == "uniform":
            out[path] = FloatDistribution(float(dim["low"]), float(dim["high"]))
        elif kind == "log_uniform":
            out[path] = FloatDistribution(float(dim["low"]), float(dim["high"]), log=True)
        elif kind == "int":
            out[path] = IntDistribution(int(dim["low"]), int(dim["high"]), log=bool(dim.get("log")))
        else:
            raise ValueError(f"unknown dimension type {kind!r}")
    return out


def values_of(space: Mapping[str, Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """The job values of a trial's Optuna params: a choice's value (a copy), a float, an int."""
    out: dict[str, Any] = {}
    for path in sorted(params):
        dim = space[path]
        raw = params[path]
        if dim["type"] == "choice":
            out[path] = copy.deepcopy(dim["values"][int(raw)])
        elif dim["type"] == "int":
            out[path] = int(raw)
        else:
            out[path] = float(raw)
    return out


def apply(
    network: Mapping[str, Any], training: Mapping[str, Any], values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base spec's ``network`` and ``training`` with each ``section.field`` set."""
    sections = {"network": dict(network), "training": dict(training)}
    for path, value in values.items():
        section, _, name = path.partition(".")
        sections[section][name] = value
    return sections["network"], sections["training"]


def grid_size(space: Mapping[str, Mapping[str, Any]]) -> int | None:
    """Points of an all-choice space (None when a dimension is continuous)."""
    if any(dim["type"] != "choice" for dim in space.values()):
        return None
    return math.prod(len(dim["values"]) for dim in space.values())


# -- sampler and pruner --------------------------------------------------------------------


def trial_seed(seed: int, number: int) -> int:
    """The seed of the generator that draws trial ``number`` of a sweep seeded ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def make_sampler(
    sampler: Mapping[str, Any], space: Mapping[str, Mapping[str, Any]], number: int
) -> BaseSampler:
    """The sampler that asks for trial ``number`` (see the module docstring on seeds)."""
    kind, seed = sampler["kind"], int(sampler["seed"])
    if kind == "grid":
        grid = {path: list(range(len(dim["values"]))) for path, dim in space.items()}
        return _GridSampler(grid, seed=seed)
    if kind == "random":
        return RandomSampler(seed=trial_seed(seed, number))
    if kind == "tpe":
        options = {
            key: sampler[key]
            for key in ("n_startup_trials", "n_ei_candidates", "multivariate", "constant_liar")
            if sampler.get(key) is not None
        }
        # multivariate and constant_liar are experimental in Optuna: chosen knowingly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return TPESampler(seed=trial_seed(seed, number), **options)
    raise ValueError(f"unknown sampler {kind!r}")


def make_pruner(pruner: Mapping[str, Any], epochs: int | None) -> BasePruner:
    """The pruner of a sweep. Optuna's own checks raise ValueError.

    ``epochs`` (the trials' epochs, when the space does not vary them) settles the
    ``"auto"`` resources up front: hyperband's ``max_resource`` is ``epochs``, and
    successive halving's ``min_resource`` is ``max(epochs // 100, 1)``, which is what
    Optuna estimates from the first finished trial. Left to Optuna, a trial running
    beside that first one would be judged only once the estimate exists, many epochs
    late, and record its late (better) values as its early rungs' values, against which
    every later trial is then pruned: a parallel sweep would lose its best trials."""
    kind = pruner["kind"]
    options = {key: value for key, value in pruner.items() if key != "kind" and value is not None}
    if kind == "none":
        return NopPruner()
    if kind == "median":
        return MedianPruner(**options)
    if kind == "successive_halving":
        if options.get("min_resource", "auto") == "auto" and epochs is not None:
            options["min_resource"] = max(epochs // 100, 1)
        return SuccessiveHalvingPruner(**options)
    if kind == "hyperband":
        options.setdefault("max_resource", epochs if epochs is not None else "auto")
        return HyperbandPruner(**options)
    raise ValueError(f"unknown pruner {kind!r}")


# -- the study --------------------------------------------------------------------------


class SweepStudy:
    """An in-memory Optuna study holding a sweep's trials as recorded; ask, tell and
    report through Optuna, then read back what changed (:meth:`record`)."""

    def __init__(
        self,
        name: str,
        *,
        direction: str,
        sampler: Mapping[str, Any],
        pruner: Mapping[str, Any],
        space: Mapping[str, Mapping[str, Any]],
        epochs: int | None,
        trials: Sequence[TrialRecord],
    ) -> None:
        self.space = space
        self.sampler_spec = sampler
        self.dists = distributions(space)
        self.study = optuna.create_study(
            study_name=name,
            direction="maximize" if direction == "maximize" else "minimize",
            sampler=make_sampler(sampler, space, len(trials)),
            pruner=make_pruner(pruner, epochs),
        )
        for i, rec in enumerate(trials):
            if rec.number != i:
                raise ValueError(f"trial numbers must run 0, 1, …: found {rec.number} at {i}")
            self.study.add_trial(self._frozen(rec))

    def _frozen(self, rec: TrialRecord) -> FrozenTrial:
        state = _STATES[rec.state]
        value = rec.value if state in (TrialState.COMPLETE, TrialState.PRUNED) else None
        return create_trial(
            state=state,
            value=value,
            params=dict(rec.params),
            distributions={path: self.dists[path] for path in rec.params},
            system_attrs=copy.deepcopy(rec.system_attrs),
            intermediate_values={
                step: float("nan") if v is None else v for step, v in rec.intermediate.items()
            },
        )

    def _trial(self, number: int) -> FrozenTrial:
        return self.study.get_trials(deepcopy=False)[number]

    def record(self, number: int) -> TrialRecord:
        """Optuna's view of trial ``number`` now (params, state, value, system attrs)."""
        frozen = self._trial(number)
        return TrialRecord(
            number=number,
            params=dict(frozen.params),
            state=frozen.state.name,
            value=frozen.value,
            system_attrs=copy.deepcopy(dict(frozen.system_attrs)),
            intermediate=dict(frozen.intermediate_values),
        )

    def ask(self) -> TrialRecord:
        """The next trial (number = trials so far), its params sampled by the sweep's sampler."""
        number = len(self.study.get_trials(deepcopy=False))
        self.study.sampler = make_sampler(self.sampler_spec, self.space, number)
        trial = self.study.ask(fixed_distributions=self.dists)
        return self.record(trial.number)

    def tell(self, number: int, state: str, value: float | None = None) -> TrialRecord:
        """End a running trial: COMPLETE with its final ``value`` (FAIL when that is not
        a finite number), PRUNED (Optuna keeps its last epoch's value) or FAIL."""
        if state == COMPLETE and (value is None or not math.isfinite(value)):
            state = FAIL
        if state == COMPLETE:
            self.study.tell(number, value)
        else:
            self.study.tell(number, state=_STATES[state])
        return self.record(number)

    def should_prune(self, number: int, epoch: int, value: float | None) -> bool:
        """Report trial ``number``'s objective at ``epoch`` and ask the pruner."""
        trial = optuna.Trial(self.study, self._trial(number)._trial_id)
        trial.report(float("nan") if value is None else value, epoch)
        return bool(trial.should_prune())
