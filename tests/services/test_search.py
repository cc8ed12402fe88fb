"""The space -> Optuna mapping and the study rebuilt for each decision
(app/services/search.py): distributions, the values a job gets, seeds, the grid's
pitfall, tell and the pruner's record."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.pruners import HyperbandPruner, MedianPruner, NopPruner, SuccessiveHalvingPruner
from optuna.samplers import RandomSampler, TPESampler

from app.services import search
from app.services.search import COMPLETE, FAIL, PRUNED, RUNNING, SweepStudy, TrialRecord

SPACE: dict[str, dict[str, Any]] = {
    "training.learning_rate": {"type": "log_uniform", "low": 0.01, "high": 10},
    "network.sizes": {"type": "choice", "values": [[64, 10, 10], [64, 30, 10], [64, 100, 10]]},
    "training.l2": {"type": "uniform", "low": 0, "high": 5},
    "training.batch_size": {"type": "int", "low": 1, "high": 100, "log": True},
}
GRID: dict[str, dict[str, Any]] = {
    "training.learning_rate": {"type": "choice", "values": [0.05, 0.5, 3.0]},
    "network.sizes": {"type": "choice", "values": [[64, 10, 10], [64, 30, 10], [64, 100, 10]]},
    "training.l2": {"type": "choice", "values": [0, 1, 10]},
}


def study(
    trials: list[TrialRecord],
    space: dict[str, dict[str, Any]] = GRID,
    sampler: dict[str, Any] | None = None,
    pruner: dict[str, Any] | None = None,
    direction: str = "maximize",
) -> SweepStudy:
    return SweepStudy(
        "sweep-1",
        direction=direction,
        sampler=sampler or {"kind": "grid", "seed": 0},
        pruner=pruner or {"kind": "none"},
        space=space,
        epochs=30,
        trials=trials,
    )


def test_each_dimension_type_maps_to_its_optuna_distribution() -> None:
    dists = search.distributions(SPACE)
    assert list(dists) == sorted(SPACE)  # path order: the same draws every time
    assert dists["training.learning_rate"] == FloatDistribution(0.01, 10.0, log=True)
    assert dists["training.l2"] == FloatDistribution(0.0, 5.0)
    assert dists["training.batch_size"] == IntDistribution(1, 100, log=True)
    # choices are categorical over indices: Optuna's categories must be scalars
    assert dists["network.sizes"] == CategoricalDistribution((0, 1, 2))


def test_values_of_gives_the_job_values_and_apply_sets_them_on_the_base_spec() -> None:
    params = {
        "training.learning_rate": 0.123456789012345,
        "network.sizes": 2,
        "training.l2": 1.5,
        "training.batch_size": 17,
    }
    values = search.values_of(SPACE, params)
    assert values == {
        "training.learning_rate": 0.123456789012345,
        "network.sizes": [64, 100, 10],
        "training.l2": 1.5,
        "training.batch_size": 17,
    }
    assert type(values["training.batch_size"]) is int
    values["network.sizes"].append(1)  # a copy: the space is untouched
    assert SPACE["network.sizes"]["values"][2] == [64, 100, 10]
    network, training = search.apply(
        {"sizes": [64, 30, 10], "cost": "cross_entropy"},
        {"epochs": 30, "learning_rate": 0.5, "l2": 0.0, "batch_size": 10},
        search.values_of(SPACE, params),
    )
    assert network == {"sizes": [64, 100, 10], "cost": "cross_entropy"}
    assert training == {
        "epochs": 30,
        "learning_rate": 0.123456789012345,
        "l2": 1.5,
        "batch_size": 17,
    }


def test_grid_size_is_the_product_of_the_choices_and_none_for_a_continuous_space() -> None:
    assert search.grid_size(GRID) == 27
    assert search.grid_size(SPACE) is None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"kind": "none"}, NopPruner),
        ({"kind": "median", "n_startup_trials": 2}, MedianPruner),
        ({"kind": "successive_halving", "min_resource": 3}, SuccessiveHalvingPruner),
        ({"kind": "hyperband", "reduction_factor": 3}, HyperbandPruner),
    ],
)
def test_make_pruner_builds_optunas_pruner(spec: dict[str, Any], expected: type) -> None:
    assert isinstance(search.make_pruner(spec, 30), expected)


def test_hyperband_defaults_max_resource_to_the_trials_epochs() -> None:
    pruner = search.make_pruner({"kind": "hyperband"}, 30)
    assert pruner._max_resource == 30  # type: ignore[attr-defined]
    assert search.make_pruner({"kind": "hyperband"}, None)._max_resource == "auto"  # type: ignore[attr-defined]


def test_successive_halvings_auto_min_resource_is_settled_from_the_epochs() -> None:
    # What Optuna estimates from the first finished trial, known before any has finished.
    for epochs, expected in ((30, 1), (300, 3), (None, None)):
        pruner = search.make_pruner({"kind": "successive_halving"}, epochs)
        assert pruner._min_resource == expected  # type: ignore[attr-defined]
    given = search.make_pruner({"kind": "successive_halving", "min_resource": 5}, 300)
    assert given._min_resource == 5  # type: ignore[attr-defined]


def test_optunas_own_checks_surface_as_value_errors() -> None:
    with pytest.raises(ValueError, match="bootstrap_count"):  # auto, with epochs searched
        search.make_pruner({"kind": "successive_halving", "bootstrap_count": 2}, None)


def test_random_and_tpe_seed_each_trial_from_the_sweep_seed_and_its_number() -> None:
    a = search.make_sampler({"kind": "random", "seed": 7}, SPACE, 3)
    b = search.make_sampler({"kind": "tpe", "seed": 7, "multivariate": True}, SPACE, 3)
    assert isinstance(a, RandomSampler) and isinstance(b, TPESampler)
    assert search.trial_seed(7, 3) == search.trial_seed(7, 3) != search.trial_seed(7, 4)
    assert search.trial_seed(7, 3) != search.trial_seed(8, 3)


def ask_all(n: int, sampler: dict[str, Any], space: dict[str, dict[str, Any]]) -> list[dict]:
    """n trials asked one decision at a time (a fresh study each), each told at once."""
    trials: list[TrialRecord] = []
    for number in range(n):
        s = study(trials, space, sampler)
        trials.append(s.ask())
        trials[number] = study(trials, space, sampler).tell(number, COMPLETE, number / 10)
    return [t.params for t in trials]


def test_a_seeded_random_sweep_draws_the_same_trials_every_time() -> None:
    sampler = {"kind": "random", "seed": 11}
    first = ask_all(6, sampler, SPACE)
    assert first == ask_all(6, sampler, SPACE)
    assert len({str(p) for p in first}) == 6  # not the same draw over and over
    assert first != ask_all(6, {"kind": "random", "seed": 12}, SPACE)
    for params in first:
        assert 0.01 <= params["training.learning_rate"] <= 10
        assert 1 <= params["training.batch_size"] <= 100


def test_a_grid_sweep_gives_every_point_once_in_a_seeded_order() -> None:
    first = ask_all(27, {"kind": "grid", "seed": 0}, GRID)
    points = {tuple(sorted(p.items())) for p in first}
    assert len(points) == 27  # each of the 3 x 3 x 3 points exactly once
    assert first == ask_all(27, {"kind": "grid", "seed": 0}, GRID)
    assert first != ask_all(27, {"kind": "grid", "seed": 1}, GRID)  # another shuffle


def test_telling_the_last_grid_point_works_where_optunas_grid_sampler_raises() -> None:
    # The pitfall: Optuna's GridSampler.after_trial calls study.stop() once the grid is
    # exhausted, which raises outside Study.optimize (ask-and-tell).
    plain = optuna.create_study(sampler=optuna.samplers.GridSampler({"x": [0, 1]}))
    distribution = {"x": CategoricalDistribution((0, 1))}
    plain.tell(plain.ask(distribution), 1.0)
    with pytest.raises(RuntimeError, match="stop"):
        plain.tell(plain.ask(distribution), 1.0)
    space = {"training.l2": {"type": "choice", "values": [0, 1]}}
    params = ask_all(2, {"kind": "grid", "seed": 0}, space)  # tells both: no error
    assert sorted(p["training.l2"] for p in params) == [0, 1]


def test_running_trials_are_not_handed_out_again_by_the_grid() -> None:
    trials: list[TrialRecord] = []
    for _ in range(27):  # asked, never told: all running at once
        trials.append(study(trials).ask())
    assert all(t.state == RUNNING for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 27


def test_tell_records_complete_pruned_and_failed_as_optuna_does() -> None:
    s = study([], SPACE, {"kind": "tpe", "seed": 0})
    first = s.ask()
    s.should_prune(first.number, 1, 0.4)
    s.should_prune(first.number, 2, 0.6)
    assert s.tell(first.number, PRUNED).value == 0.6  # its last reported value
    second = s.ask()
    assert s.tell(second.number, COMPLETE, 0.9).state == COMPLETE
    third = s.ask()
    assert s.tell(third.number, COMPLETE, math.nan).state == FAIL  # not a finite value
    fourth = s.ask()
    told = s.tell(fourth.number, FAIL)
    assert (told.state, told.value) == (FAIL, None)


def test_successive_halving_keeps_its_rung_values_in_the_trials_record() -> None:
    pruner = {"kind": "successive_halving", "min_resource": 1, "reduction_factor": 2}
    rungs = {"completed_rung_0": 0.9, "completed_rung_1": 0.9}
    leader = TrialRecord(number=0, params={"training.l2": 0}, state=COMPLETE, value=0.9,
                         intermediate={1: 0.9, 2: 0.9}, system_attrs=rungs)  # fmt: skip
    space = {"training.l2": {"type": "choice", "values": [0, 1]}}
    s = study([leader], space, {"kind": "grid", "seed": 0}, pruner)
    trial = s.ask()
    assert s.should_prune(trial.number, 1, 0.5) is True  # below the leader at rung 0
    assert s.record(trial.number).system_attrs["completed_rung_0"] == 0.5
    # Rebuilt from that record (another process), the verdict and the rung hold.
    rebuilt = study([leader, s.record(trial.number)], space, {"kind": "grid", "seed": 0}, pruner)
    assert rebuilt.record(1).system_attrs["completed_rung_0"] == 0.5
