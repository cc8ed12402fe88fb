"""The training loop: learning, determinism, resume, optimizers, schedules, stopping."""

from __future__ import annotations

import numpy as np
import pytest

from app.nn import (
    DivergenceError,
    EpochMetrics,
    Network,
    SpecError,
    TrainingConfig,
    TrainResult,
    TrainState,
    train,
)

from .factories import blobs, config, spec, xor


def weights_of(result: TrainResult) -> list[np.ndarray]:
    return [a for pair in zip(result.network.wt, result.network.biases, strict=True) for a in pair]


def metric_rows(metrics: list[EpochMetrics]) -> list[dict[str, object]]:
    """Every metric except the wall-clock seconds."""
    rows = []
    for m in metrics:
        d = m.to_dict()
        del d["seconds"]
        rows.append(d)
    return rows


def assert_same_weights(a: TrainResult, b: TrainResult) -> None:
    for wa, wb in zip(weights_of(a), weights_of(b), strict=True):
        assert wa.dtype == wb.dtype
        assert np.array_equal(wa, wb)


def test_xor_is_learned_with_sigmoid_and_cross_entropy() -> None:
    x, y = xor()
    result = train(spec([2, 8, 1]), config(epochs=500, batch_size=4, learning_rate=2.0), x, y)
    assert result.metrics[-1].train_accuracy == 1.0
    assert result.network.predict(x)[1].tolist() == [0, 1, 1, 0]
    assert result.metrics[-1].train_loss < result.metrics[0].train_loss


def test_cross_entropy_learns_faster_than_quadratic_from_a_saturated_start() -> None:
    # Nielsen ch. 3: with big weights the sigmoid output saturates and σ'(z) ≈ 0 slows the
    # quadratic cost's δ = (a − y) σ'(z); cross-entropy's δ = a − y does not slow down.
    x, y = blobs(n=200, n_features=4, n_classes=2, seed=3)
    y = y[:, :1]
    layers = Network.initialize(spec([4, 16, 1], init="large"), seed=0).to_document()["layers"]
    for layer in layers:  # 4x the "large" init: a badly saturated start
        layer["weights"] = (4 * np.array(layer["weights"])).tolist()
        layer["biases"] = (4 * np.array(layer["biases"])).tolist()
    start = Network.from_layers(spec([4, 16, 1]), layers)
    a = start.forward(x)
    assert np.mean(a * (1 - a) < 0.01) > 0.4  # σ'(z_L) < 0.01 for over 40% of samples
    finals = {}
    for cost in ("cross_entropy", "quadratic"):
        result = train(
            spec([4, 16, 1], cost=cost),
            config(epochs=5, batch_size=10, learning_rate=0.5),
            x,
            y,
            initial_weights=layers,
        )
        # one yardstick for both: the quadratic cost, which the quadratic run minimises
        finals[cost] = Network(
            spec([4, 16, 1], cost="quadratic"), result.network.wt, result.network.biases, "float64"
        ).loss(x, y)
    assert finals["cross_entropy"] < finals["quadratic"] / 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_gives_identical_weights_and_metrics(dtype: str) -> None:
    x, y = blobs()
    cfg = config(epochs=4, batch_size=7, dtype=dtype, validation_fraction=0.2, seed=5)
    a = train(spec([4, 6, 3], output_activation="softmax", cost="log_likelihood"), cfg, x, y)
    b = train(spec([4, 6, 3], output_activation="softmax", cost="log_likelihood"), cfg, x, y)
    assert_same_weights(a, b)
    assert a.network.dtype == dtype and a.network.wt[0].dtype == np.dtype(dtype)
    assert metric_rows(a.metrics) == metric_rows(b.metrics)
    c = train(
        spec([4, 6, 3], output_activation="softmax", cost="log_likelihood"),
        config(epochs=4, batch_size=7, dtype=dtype, validation_fraction=0.2, seed=6),
        x,
        y,
    )
    assert not np.array_equal(a.network.wt[0], c.network.wt[0])


class StopAfter:
    """should_stop that says yes once, after ``k`` mini-batches."""

    def __init__(self, k: int) -> None:
        self.k, self.calls = k, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls == self.k


RESUME_CONFIGS = [
    {"optimizer": "sgd", "l2": 0.5},
    {"optimizer": "momentum", "momentum": 0.9, "nesterov": True, "learning_rate": 0.1},
    {"optimizer": "adam", "learning_rate": 0.01, "lr_schedule": "plateau", "lr_patience": 1},
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("extra", RESUME_CONFIGS)
@pytest.mark.parametrize("stop_after", [3, 17, 20])  # mid-epoch, mid-epoch, epoch end
def test_resume_is_bit_identical(dtype: str, extra: dict[str, object], stop_after: int) -> None:
    # 100 samples, 20 for validation, batch 8: 10 batches per epoch (the last one of 0)
    x, y = blobs(n=100)
    net_spec = spec(
        [4, 5, 3], hidden_activation="tanh", output_activation="softmax", cost="log_likelihood"
    )
    cfg = config(epochs=5, batch_size=8, dtype=dtype, validation_fraction=0.2, seed=9, **extra)
    whole = train(net_spec, cfg, x, y)
    first = train(net_spec, cfg, x, y, should_stop=StopAfter(stop_after))
    assert first.interrupted and not first.stopped_early
    assert first.state.epoch == stop_after // 10
    assert first.state.batch == stop_after % 10
    # through bytes, as a worker would store it
    state = TrainState.from_bytes(first.state.to_bytes())
    rest = train(net_spec, cfg, x, y, resume=state)
    assert not rest.interrupted
    assert_same_weights(whole, rest)
    assert metric_rows(whole.metrics) == metric_rows(first.metrics + rest.metrics)
    assert [m.epoch for m in first.metrics + rest.metrics] == [1, 2, 3, 4, 5]


def test_epoch_end_states_resume_bit_identically() -> None:
    x, y = blobs(n=60)
    cfg = config(epochs=4, batch_size=6, optimizer="adam", learning_rate=0.02, seed=1)
    states: list[TrainState] = []
    whole = train(
        spec([4, 5, 3]),
        cfg,
        x,
        y,
        on_epoch_end=lambda m, s: states.append(TrainState.from_bytes(s.to_bytes())),
    )
    assert [s.epoch for s in states] == [1, 2, 3, 4] and all(s.batch == 0 for s in states)
    rest = train(spec([4, 5, 3]), cfg, x, y, resume=states[1])
    assert_same_weights(whole, rest)
    assert metric_rows(rest.metrics) == metric_rows(whole.metrics[2:])


def test_resume_refuses_a_different_config() -> None:
    x, y = blobs(n=60)
    first = train(spec([4, 5, 3]), config(epochs=2, batch_size=6), x, y, should_stop=StopAfter(4))
    with pytest.raises(SpecError) as err:
        train(spec([4, 5, 3]), config(epochs=2, batch_size=5), x, y, resume=first.state)
    assert str(err.value) == "resume: checkpoint was made with training.batch_size=6, not 5"


@pytest.mark.parametrize(
    "extra",
    [
        {"optimizer": "sgd"},
        {"optimizer": "sgd", "l2": 1.0},
        {"optimizer": "momentum", "momentum": 0.9, "learning_rate": 0.05},
        {"optimizer": "momentum", "momentum": 0.9, "nesterov": True, "learning_rate": 0.05},
        {"optimizer": "adam", "learning_rate": 0.01},
        {"optimizer": "adam", "learning_rate": 0.01, "l2": 1.0},
    ],
)
def test_every_optimizer_learns_blobs(extra: dict[str, object]) -> None:
    x, y = blobs(n=150, seed=4)
    result = train(
        spec([4, 8, 3], output_activation="softmax", cost="log_likelihood"),
        config(epochs=20, batch_size=10, **extra),
        x,
        y,
    )
    losses = [m.train_loss for m in result.metrics]
    assert losses[-1] < 0.5 * losses[0]
    assert result.metrics[-1].train_accuracy is not None
    assert result.metrics[-1].train_accuracy > 0.9


def test_momentum_and_adam_follow_their_formulas_for_one_step() -> None:
    x, y = xor()
    layers = Network.initialize(spec([2, 2, 1]), seed=0).to_document()["layers"]
    w0 = np.array(layers[1]["weights"])
    g = np.array(train_gradient_for_layer2(layers))
    one = {"epochs": 1, "batch_size": 4, "shuffle": False, "learning_rate": 0.1}
    mom = train(
        spec([2, 2, 1]),
        config(optimizer="momentum", momentum=0.9, **one),
        x,
        y,
        initial_weights=layers,
    )
    # v = 0·μ − η g; W = W + v
    np.testing.assert_allclose(mom.network.weights[1], w0 - 0.1 * g, rtol=0, atol=1e-15)
    adam = train(spec([2, 2, 1]), config(optimizer="adam", **one), x, y, initial_weights=layers)
    # first Adam step: m̂ = g, v̂ = g², W − η g/(|g| + ε)
    np.testing.assert_allclose(
        adam.network.weights[1], w0 - 0.1 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-12
    )


def train_gradient_for_layer2(layers: list[dict[str, object]]) -> list[list[float]]:
    from app.nn import backprop_trace

    x, y = xor()
    net = Network.from_layers(spec([2, 2, 1]), layers)
    return backprop_trace(net, x, y).layers[1].grad_weights.tolist()


def test_step_schedule_decays_the_learning_rate() -> None:
    x, y = blobs(n=40)
    result = train(
        spec([4, 3, 3]),
        config(
            epochs=5,
            batch_size=10,
            learning_rate=0.8,
            lr_schedule="step",
            lr_step_epochs=2,
            lr_decay=0.5,
        ),
        x,
        y,
    )
    assert [m.learning_rate for m in result.metrics] == [0.8, 0.8, 0.4, 0.4, 0.2]


def test_plateau_schedule_halves_when_validation_stalls() -> None:
    x, y = blobs(n=80)
    # a tiny learning rate on a huge one makes the validation loss stall/worsen
    result = train(
        spec([4, 3, 3]),
        config(
            epochs=12,
            batch_size=8,
            learning_rate=40.0,
            lr_schedule="plateau",
            lr_patience=2,
            validation_fraction=0.25,
        ),
        x,
        y,
    )
    rates = [m.learning_rate for m in result.metrics]
    assert rates[0] == 40.0
    assert min(rates) < 40.0
    assert all(r in {40.0 * 0.5**k for k in range(12)} for r in rates)
    # a halving happens only after lr_patience epochs without a new best validation loss
    best = float("inf")
    wait = 0
    expected = []
    lr = 40.0
    for m in result.metrics:
        expected.append(lr)
        assert m.validation_loss is not None
        if m.validation_loss < best:
            best, wait = m.validation_loss, 0
        else:
            wait += 1
            if wait >= 2:
                lr, wait = lr / 2, 0
    assert rates == expected


def test_early_stopping_stops_when_validation_loss_stops_improving() -> None:
    x, y = blobs(n=80, seed=1)
    result = train(
        spec([4, 16, 3]),
        config(
            epochs=200,
            batch_size=8,
            learning_rate=3.0,
            validation_fraction=0.25,
            early_stopping_patience=3,
            early_stopping_min_delta=1e-3,
        ),
        x,
        y,
    )
    assert result.stopped_early and not result.interrupted
    assert len(result.metrics) < 200
    losses = [m.validation_loss for m in result.metrics]
    best = min(losses[:-3])  # type: ignore[type-var]
    assert all(v > best - 1e-3 for v in losses[-3:])  # type: ignore[operator]


def test_warm_start_continues_from_given_weights() -> None:
    x, y = blobs(n=60)
    cfg = config(epochs=3, batch_size=6)
    first = train(spec([4, 5, 3]), cfg, x, y)
    warm = train(spec([4, 5, 3]), cfg, x, y, initial_weights=first.network.to_document()["layers"])
    assert warm.metrics[0].train_loss < first.metrics[0].train_loss
    # the warm start's first epoch starts exactly from those weights
    again = train(
        spec([4, 5, 3]),
        config(epochs=1, batch_size=6),
        x,
        y,
        initial_weights=first.network.to_document()["layers"],
    )
    assert again.metrics[0].train_loss == warm.metrics[0].train_loss


def test_warm_start_with_wrong_shapes_names_the_layer() -> None:
    x, y = xor()
    bad = [
        {"weights": np.zeros((2, 8)).tolist(), "biases": [0.0] * 8},
        {"weights": [[0.0] * 8], "biases": [0.0]},
    ]
    with pytest.raises(SpecError) as err:
        train(spec([2, 8, 1]), config(batch_size=4), x, y, initial_weights=bad)
    assert err.value.field == "initial_weights[0].weights"
    assert str(err.value) == "initial_weights[0].weights: expected 8x2, got 2x8"


def test_divergence_names_the_epoch() -> None:
    x, y = blobs(n=60)
    y_reg = x @ np.ones((4, 1)) * 10
    reports: list[int] = []
    with pytest.raises(DivergenceError) as err:
        train(
            spec(
                [4, 8, 1],
                hidden_activation="relu",
                output_activation="identity",
                cost="quadratic",
                init="large",
            ),
            config(epochs=50, batch_size=6, learning_rate=5.0),
            x,
            y_reg,
            task="regression",
            on_epoch_end=lambda m, s: reports.append(m.epoch),
        )
    epoch = err.value.epoch
    assert epoch >= 1 and reports == list(range(1, epoch))
    assert str(err.value).startswith(f"training diverged at epoch {epoch}: ")
    assert str(err.value).endswith("try a lower learning_rate (now 5.0)")


def test_metrics_and_callbacks() -> None:
    x, y = blobs(n=50)
    seen: list[tuple[int, int]] = []
    result = train(
        spec([4, 5, 3], hidden_activation="relu"),
        config(epochs=3, batch_size=10, validation_fraction=0.2),
        x,
        y,
        on_epoch_end=lambda m, s: seen.append((m.epoch, s.epoch)),
    )
    assert seen == [(1, 1), (2, 2), (3, 3)]
    m = result.metrics[-1]
    assert m.validation_loss is not None and m.validation_accuracy is not None
    assert m.learning_rate == 0.5 and m.seconds >= 0
    assert set(m.to_dict()) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "validation_loss",
        "validation_accuracy",
        "learning_rate",
        "seconds",
        "health",
    }
    hidden, out = m.health
    assert set(hidden) == {"grad_norm", "update_ratio", "saturated_fraction", "dead_fraction"}
    assert hidden["dead_fraction"] is not None and hidden["saturated_fraction"] is None
    assert out["saturated_fraction"] is not None and out["dead_fraction"] is None
    assert hidden["grad_norm"] > 0 and 0 < hidden["update_ratio"] < 1  # type: ignore[operator]
    # the train loss is the mean cost of the epoch's outputs: one step of the whole set
    full = train(spec([4, 5, 3]), config(epochs=1, batch_size=50, shuffle=False), x, y)
    start = Network.initialize(spec([4, 5, 3]), seed=0)
    assert full.metrics[0].train_loss == pytest.approx(start.loss(x, y), rel=1e-12)


def test_regression_has_no_accuracy() -> None:
    x = np.linspace(-1, 1, 40).reshape(-1, 1)
    result = train(
        spec([1, 6, 1], output_activation="identity", cost="quadratic"),
        config(epochs=2, batch_size=8, validation_fraction=0.25),
        x,
        np.sin(x),
        task="regression",
    )
    assert result.metrics[-1].train_accuracy is None
    assert result.metrics[-1].validation_accuracy is None


def test_bad_data_and_config_are_refused_before_training() -> None:
    x, y = xor()
    with pytest.raises(SpecError) as err:
        train(spec([3, 2, 1]), config(batch_size=4), x, y)
    assert err.value.field == "network.sizes"
    with pytest.raises(SpecError) as err:
        train(spec([2, 2, 1]), config(batch_size=5), x, y)
    assert str(err.value) == (
        "training.batch_size: 5 is larger than the training split (4 samples)"
    )
    with pytest.raises(SpecError) as err:
        train(spec([2, 2, 1]), TrainingConfig(optimizer="rmsprop"), x, y)
    assert err.value.field == "training.optimizer"
