"""Training health per epoch: gradient norms, update ratios, saturation, dead units."""

from __future__ import annotations

import numpy as np

from app.nn import Network, train

from .factories import blobs, config, spec


def test_saturated_sigmoid_units_are_reported() -> None:
    x, y = blobs(n=60)
    # huge weights: nearly every hidden sigmoid sits where σ'(z) ≈ 0
    start = Network.initialize(spec([4, 6, 3], init="large"), seed=0).to_document()["layers"]
    start[0]["weights"] = (50 * np.array(start[0]["weights"])).tolist()
    result = train(
        spec([4, 6, 3]),
        config(epochs=1, batch_size=10, learning_rate=0.01),
        x * 5,
        y,
        initial_weights=start,
    )
    hidden = result.metrics[0].health[0]
    assert hidden["saturated_fraction"] is not None and hidden["saturated_fraction"] > 0.8
    assert hidden["dead_fraction"] is None
    calm = train(spec([4, 6, 3], init="xavier"), config(epochs=1, batch_size=10), x * 0.01, y)
    assert calm.metrics[0].health[0]["saturated_fraction"] == 0.0


def test_dead_relu_units_are_reported() -> None:
    x, y = blobs(n=60)
    start = Network.initialize(spec([4, 5, 3], hidden_activation="relu"), seed=0)
    layers = start.to_document()["layers"]
    layers[0]["biases"] = [-1000.0, -1000.0, 0.0, 0.0, 0.0]  # two units never fire
    layers[0]["weights"] = [[0.1] * 4, [0.1] * 4, [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    result = train(
        spec([4, 5, 3], hidden_activation="relu"),
        config(epochs=1, batch_size=60, learning_rate=0.01),
        np.abs(x) + 1,
        y,
        initial_weights=layers,
    )
    hidden = result.metrics[0].health[0]
    assert hidden["dead_fraction"] == 2 / 5
    assert hidden["saturated_fraction"] is None


def test_grad_norm_and_update_ratio_come_from_the_last_batch() -> None:
    x, y = blobs(n=40)
    # one batch per epoch: the last batch is the whole epoch, so the numbers can be
    # recomputed from the weights before and after
    start = Network.initialize(spec([4, 5, 3]), seed=3)
    result = train(
        spec([4, 5, 3]),
        config(epochs=1, batch_size=40, learning_rate=0.3, shuffle=False),
        x,
        y,
        initial_weights=start.to_document()["layers"],
    )
    for layer, health in enumerate(result.metrics[0].health):
        w0, w1 = start.weights[layer], result.network.weights[layer]
        step = np.linalg.norm(w1 - w0)
        assert abs(health["update_ratio"] - step / np.linalg.norm(w0)) < 1e-12  # type: ignore[operator]
        # plain SGD: ΔW = −η ∂C/∂W, so ‖∂C/∂W‖ = ‖ΔW‖ / η
        assert abs(health["grad_norm"] - step / 0.3) < 1e-9  # type: ignore[operator]
