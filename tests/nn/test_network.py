"""Network construction, prediction and serialization."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from app.nn import Network, NetworkSpec, SpecError, predict_labels

from .factories import spec


def test_initializers_are_seeded_and_dtype_independent() -> None:
    s = spec([3, 5, 2], init="default")
    a = Network.initialize(s, seed=4)
    b = Network.initialize(s, seed=4)
    c = Network.initialize(s, seed=4, dtype="float32")
    assert all(np.array_equal(x, y) for x, y in zip(a.wt, b.wt, strict=True))
    assert np.array_equal(a.wt[0].astype(np.float32), c.wt[0])
    assert c.wt[0].dtype == np.float32 and c.biases[0].dtype == np.float32
    assert a.weights[0].shape == (5, 3) and a.biases[0].shape == (5,)


@pytest.mark.parametrize(
    ("init", "w_std", "b_zero"),
    [
        ("default", (1 / 400) ** 0.5, False),
        ("large", 1.0, False),
        ("xavier", (2 / 500) ** 0.5, True),
        ("he", (2 / 400) ** 0.5, True),
    ],
)
def test_initializer_scales(init: str, w_std: float, b_zero: bool) -> None:
    net = Network.initialize(spec([400, 100, 1], init=init), seed=0)
    assert np.std(net.weights[0]) == pytest.approx(w_std, rel=0.05)
    assert (np.all(net.biases[0] == 0)) == b_zero


def test_document_round_trip_is_nielsen_oriented_and_json_ready() -> None:
    net = Network.initialize(
        spec(
            [3, 4, 2], hidden_activation="relu", output_activation="softmax", cost="log_likelihood"
        ),
        seed=1,
    )
    doc = json.loads(json.dumps(net.to_document()))
    assert doc["sizes"] == [3, 4, 2] and doc["cost"] == "log_likelihood"
    assert [layer["activation"] for layer in doc["layers"]] == ["relu", "softmax"]
    assert np.array(doc["layers"][0]["weights"]).shape == (4, 3)
    back = Network.from_document(doc)
    x = np.random.default_rng(0).normal(size=(5, 3))
    assert np.array_equal(back.forward(x), net.forward(x))
    # forward matches z = W a + b of docs/design.md §1, written out with Nielsen's W
    w1, w2 = (np.array(layer["weights"]) for layer in doc["layers"])
    b1, b2 = (np.array(layer["biases"]) for layer in doc["layers"])
    z2 = w2 @ np.maximum(w1 @ x[0] + b1, 0) + b2
    np.testing.assert_allclose(net.forward(x[:1])[0], np.exp(z2) / np.exp(z2).sum(), rtol=1e-12)


def test_npz_round_trip_keeps_dtype_and_refuses_pickles() -> None:
    net = Network.initialize(spec([3, 4, 1]), seed=2, dtype="float32")
    back = Network.from_npz(net.to_npz())
    assert back.dtype == "float32"
    assert all(np.array_equal(a, b) for a, b in zip(net.wt, back.wt, strict=True))
    buf = io.BytesIO()
    np.savez(
        buf,
        sizes=np.array([3, 4, 1]),
        activations=np.array([{"x": 1}], dtype=object),
        cost=np.array("quadratic"),
    )
    with pytest.raises(SpecError) as err:
        Network.from_npz(buf.getvalue())
    assert err.value.field == "file"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["layers"][1].update(weights=[[0.0] * 3]),
            "layers[1].weights: expected 1x4, got 1x3",
        ),
        (lambda d: d["layers"][0].update(biases=[0.0, 1.0]), "layers[0].biases: expected 4, got 2"),
        (
            lambda d: d["layers"][0].update(activation="softmax"),
            "layers[0].activation: 'softmax' is not one of sigmoid, tanh, relu, identity",
        ),
        (
            lambda d: d.update(cost="log_likelihood"),
            "cost: log_likelihood needs output_activation softmax (output activation is sigmoid)",
        ),
        (
            lambda d: d["layers"][0]["weights"][0].__setitem__(0, float("inf")),
            "layers[0].weights: contains a non-finite number",
        ),
        (lambda d: d["layers"].pop(), "layers: expected 2 layers for sizes [3, 4, 1], got 1"),
    ],
)
def test_bad_documents_name_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = Network.initialize(spec([3, 4, 1]), seed=0).to_document()
    mutate(doc)
    with pytest.raises(SpecError) as err:
        Network.from_document(doc)
    assert str(err.value) == message


def test_predict_labels() -> None:
    assert predict_labels([[0.2, 0.7, 0.1], [0.5, 0.1, 0.4]]).tolist() == [1, 0]
    assert predict_labels([[0.49], [0.5], [0.9]]).tolist() == [0, 1, 1]
    net = Network.initialize(NetworkSpec(sizes=[2, 3, 1]), seed=0)
    outputs, labels = net.predict([[0.0, 1.0], [1.0, 1.0]])
    assert labels.tolist() == (outputs[:, 0] >= 0.5).astype(int).tolist()


def test_forward_refuses_wrong_feature_count() -> None:
    net = Network.initialize(NetworkSpec(sizes=[2, 3, 1]), seed=0)
    with pytest.raises(SpecError) as err:
        net.forward(np.zeros((4, 3)))
    assert str(err.value) == "inputs: expected rows of 2 features, got shape 4x3"
