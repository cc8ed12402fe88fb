"""Spec and config validation: clear errors with field paths, before training."""

from __future__ import annotations

import pytest

from app.nn import (
    ACTIVATIONS,
    COSTS,
    INITIALIZERS,
    OPTIMIZERS,
    NetworkSpec,
    SpecError,
    TrainingConfig,
)


def test_registries_are_keyed_by_the_api_names() -> None:
    assert set(ACTIVATIONS) == {"sigmoid", "tanh", "relu", "identity", "softmax"}
    assert set(COSTS) == {"quadratic", "cross_entropy", "log_likelihood"}
    assert set(INITIALIZERS) == {"default", "large", "xavier", "he"}
    assert set(OPTIMIZERS) == {"sgd", "momentum", "adam"}


@pytest.mark.parametrize(
    ("output", "cost", "message"),
    [
        (
            "sigmoid",
            "log_likelihood",
            "network.cost: log_likelihood needs output_activation softmax (output activation "
            "is sigmoid)",
        ),
        (
            "identity",
            "log_likelihood",
            "network.cost: log_likelihood needs output_activation softmax (output activation "
            "is identity)",
        ),
        (
            "identity",
            "cross_entropy",
            "network.cost: cross_entropy needs outputs in (0, 1): use output_activation sigmoid "
            "or softmax (output activation is identity)",
        ),
        (
            "tanh",
            "cross_entropy",
            "network.cost: cross_entropy needs outputs in (0, 1): use output_activation sigmoid "
            "or softmax (output activation is tanh)",
        ),
        (
            "relu",
            "cross_entropy",
            "network.cost: cross_entropy needs outputs in (0, 1): use output_activation sigmoid "
            "or softmax (output activation is relu)",
        ),
    ],
)
def test_refused_pairings_name_network_cost(output: str, cost: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        NetworkSpec(sizes=[2, 3, 2], output_activation=output, cost=cost).validate()
    assert err.value.field == "network.cost"
    assert str(err.value) == message


def test_per_layer_activations_override_hidden_and_output() -> None:
    spec = NetworkSpec(
        sizes=[2, 3, 4, 2], activations=["relu", "tanh", "softmax"], cost="log_likelihood"
    ).validate()
    assert spec.layer_activations == ["relu", "tanh", "softmax"]
    assert NetworkSpec(sizes=[2, 3, 4, 1]).layer_activations == ["sigmoid"] * 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": [2]}, "network.sizes: needs at least 2 layer sizes (inputs, outputs)"),
        ({"sizes": [2, 0, 1]}, "network.sizes[1]: must be a positive integer, got 0"),
        (
            {"sizes": [2, 3, 1], "hidden_activation": "softmax"},
            "network.hidden_activation: 'softmax' is not one of sigmoid, tanh, relu, identity",
        ),
        (
            {"sizes": [2, 3, 1], "cost": "hinge"},
            "network.cost: 'hinge' is not one of quadratic, cross_entropy, log_likelihood",
        ),
        (
            {"sizes": [2, 3, 1], "init": "zeros"},
            "network.init: 'zeros' is not one of default, large, xavier, he",
        ),
        (
            {"sizes": [2, 3, 1], "activations": ["relu"]},
            "network.activations: needs 2 names (one per weight layer), got 1",
        ),
        (
            {"sizes": [2, 3, 2], "activations": ["softmax", "softmax"], "cost": "log_likelihood"},
            "network.activations[0]: 'softmax' is not one of sigmoid, tanh, relu, identity",
        ),
        (
            {"sizes": [2, 3, 1], "output_activation": "softmax", "cost": "log_likelihood"},
            "network.output_activation: softmax needs at least 2 outputs",
        ),
    ],
)
def test_network_spec_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as err:
        NetworkSpec(**kwargs).validate()  # type: ignore[arg-type]
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "training.epochs: must be >= 1, got 0"),
        ({"batch_size": 2.5}, "training.batch_size: must be an integer, got 2.5"),
        ({"learning_rate": 0}, "training.learning_rate: must be > 0, got 0"),
        ({"learning_rate": float("nan")}, "training.learning_rate: must be finite, got nan"),
        ({"l2": -1}, "training.l2: must be >= 0, got -1"),
        ({"dtype": "float16"}, "training.dtype: 'float16' is not one of float32, float64"),
        ({"validation_fraction": 1.0}, "training.validation_fraction: must be < 1, got 1.0"),
        ({"nesterov": True}, "training.nesterov: only applies to optimizer 'momentum'"),
        (
            {"lr_schedule": "cosine"},
            "training.lr_schedule: 'cosine' is not one of constant, step, plateau",
        ),
        ({"early_stopping_patience": 0}, "training.early_stopping_patience: must be >= 1, got 0"),
    ],
)
def test_training_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError) as err:
        TrainingConfig(**kwargs).validate()  # type: ignore[arg-type]
    assert str(err.value) == message


def test_batch_size_is_checked_against_the_training_split() -> None:
    cfg = TrainingConfig(batch_size=10, validation_fraction=0.5)
    cfg.validate(n_samples=20)
    with pytest.raises(SpecError) as err:
        cfg.validate(n_samples=19)
    assert str(err.value) == (
        "training.batch_size: 10 is larger than the training split (9 samples)"
    )


def test_dicts_round_trip_and_unknown_keys_are_refused() -> None:
    spec = NetworkSpec(sizes=[2, 8, 1], hidden_activation="tanh")
    assert NetworkSpec.from_dict(spec.to_dict()) == spec
    cfg = TrainingConfig(optimizer="adam", learning_rate=0.01)
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(SpecError) as err:
        TrainingConfig.from_dict({"epoch": 3})
    assert str(err.value) == "training.epoch: unknown field"
    with pytest.raises(SpecError) as err:
        NetworkSpec.from_dict({"hidden_activation": "tanh"})
    assert str(err.value) == "network.sizes: is required"
