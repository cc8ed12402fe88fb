"""Toy generators: seeded, deterministic, the right shapes, classes and geometry."""

import numpy as np
import pytest

from app.datasets import GENERATORS, DatasetError, generate, options_of

KINDS = ["xor", "circles", "moons", "spirals", "blobs", "sine"]


def error_of(*args: object, **kwargs: object) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        generate(*args, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_registry_has_every_kind() -> None:
    assert list(GENERATORS) == KINDS
    assert options_of("spirals") == ["n_classes"]
    assert options_of("blobs") == ["n_classes"]
    assert options_of("circles") == ["factor"]
    assert options_of("xor") == []


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_data_other_seed_other_data(kind: str) -> None:
    a = generate(kind, n_samples=50, noise=0.2, seed=7)
    b = generate(kind, n_samples=50, noise=0.2, seed=7)
    c = generate(kind, n_samples=50, noise=0.2, seed=8)
    assert a.inputs.tobytes() == b.inputs.tobytes()
    assert a.targets.tobytes() == b.targets.tobytes()
    assert not np.array_equal(a.inputs, c.inputs)


@pytest.mark.parametrize(
    ("kind", "options", "n_features", "n_outputs", "task", "classes"),
    [
        ("xor", {}, 2, 1, "classification", ["0", "1"]),
        ("circles", {}, 2, 1, "classification", ["0", "1"]),
        ("moons", {}, 2, 1, "classification", ["0", "1"]),
        ("spirals", {}, 2, 3, "classification", ["0", "1", "2"]),
        ("spirals", {"n_classes": 5}, 2, 5, "classification", ["0", "1", "2", "3", "4"]),
        ("blobs", {}, 2, 3, "classification", ["0", "1", "2"]),
        ("blobs", {"n_classes": 2}, 2, 2, "classification", ["0", "1"]),
        ("sine", {}, 1, 1, "regression", None),
    ],
)
def test_shapes_and_classes(
    kind: str,
    options: dict[str, int],
    n_features: int,
    n_outputs: int,
    task: str,
    classes: list[str] | None,
) -> None:
    data = generate(kind, n_samples=120, **options)
    assert data.inputs.shape == (120, n_features)
    assert data.targets.shape == (120, n_outputs)
    assert data.inputs.dtype == np.float64 and data.targets.dtype == np.float64
    assert data.task == task
    assert data.classes == classes
    assert np.isfinite(data.inputs).all()
    if task == "classification":
        if n_outputs == 1:
            assert set(np.unique(data.targets)) == {0.0, 1.0}
        else:
            np.testing.assert_array_equal(data.targets.sum(axis=1), 1.0)
        counts = (
            data.targets.sum(axis=0)
            if n_outputs > 1
            else np.bincount(data.targets[:, 0].astype(int))
        )
        assert counts.max() - counts.min() <= 1, "classes are balanced"


def test_xor_four_samples_without_noise_is_the_truth_table() -> None:
    data = generate("xor", n_samples=4, noise=0.0)
    np.testing.assert_array_equal(data.inputs, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.targets, [[0], [1], [1], [0]])


def test_xor_points_stay_near_their_corner() -> None:
    data = generate("xor", n_samples=400, noise=0.1, seed=3)
    corners = np.round(data.inputs)
    labels = (corners[:, 0] != corners[:, 1]).astype(float)
    assert np.mean(labels == data.targets[:, 0]) > 0.99


def test_circles_radii_without_noise() -> None:
    data = generate("circles", n_samples=100, noise=0.0, factor=0.3)
    radius = np.linalg.norm(data.inputs, axis=1)
    inner = data.targets[:, 0] == 1.0
    np.testing.assert_allclose(radius[inner], 0.3)
    np.testing.assert_allclose(radius[~inner], 1.0)


def test_moons_lie_on_their_half_circles_without_noise() -> None:
    data = generate("moons", n_samples=100, noise=0.0)
    upper = data.targets[:, 0] == 0.0
    np.testing.assert_allclose(np.linalg.norm(data.inputs[upper], axis=1), 1.0)
    assert (data.inputs[upper, 1] >= 0).all()
    centre = np.array([1.0, 0.5])
    np.testing.assert_allclose(np.linalg.norm(data.inputs[~upper] - centre, axis=1), 1.0)
    assert (data.inputs[~upper, 1] <= 0.5).all()


def test_spiral_arms_are_rotations_of_each_other_without_noise() -> None:
    data = generate("spirals", n_samples=300, noise=0.0, n_classes=3)
    radius = np.linalg.norm(data.inputs, axis=1)
    assert radius.max() <= 1.0
    angle = np.arctan2(data.inputs[:, 1], data.inputs[:, 0])
    arm = data.targets.argmax(axis=1)
    expected = 2 * np.pi * arm / 3 + 4.0 * radius
    np.testing.assert_allclose(np.angle(np.exp(1j * (angle - expected))), 0.0, atol=1e-9)


def test_blobs_cluster_round_their_centres() -> None:
    data = generate("blobs", n_samples=600, noise=0.05, n_classes=4, seed=1)
    arm = data.targets.argmax(axis=1)
    for k in range(4):
        centre = data.inputs[arm == k].mean(axis=0)
        expected = [np.cos(np.pi * k / 2), np.sin(np.pi * k / 2)]
        np.testing.assert_allclose(centre, expected, atol=0.02)


def test_sine_is_sin_plus_noise() -> None:
    clean = generate("sine", n_samples=200, noise=0.0)
    np.testing.assert_allclose(clean.targets, np.sin(clean.inputs))
    assert clean.inputs.min() >= -np.pi and clean.inputs.max() <= np.pi
    noisy = generate("sine", n_samples=2000, noise=0.1)
    residual = noisy.targets - np.sin(noisy.inputs)
    assert 0.09 < residual.std() < 0.11


def test_generators_are_callable_directly() -> None:
    direct = GENERATORS["blobs"](30, 0.1, 2, n_classes=2)
    via = generate("blobs", 30, 0.1, 2, n_classes=2)
    np.testing.assert_array_equal(direct.inputs, via.inputs)


def test_none_options_take_defaults() -> None:
    assert generate("spirals", n_samples=9, n_classes=None).n_outputs == 3
    assert generate("xor", n_samples=9, n_classes=None).n_outputs == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            ("waves",),
            {},
            "kind: unknown kind 'waves'; choose one of xor, circles, moons, spirals, blobs, sine",
        ),
        (("xor",), {"n_classes": 3}, "n_classes: is not an option of 'xor' (it takes no options)"),
        (("blobs",), {"factor": 0.5}, "factor: is not an option of 'blobs' (it takes n_classes)"),
        (("xor", 0), {}, "n_samples: must be a whole number from 4 to 1000000, got 0"),
        (
            ("xor", 1_000_001),
            {},
            "n_samples: must be a whole number from 4 to 1000000, got 1000001",
        ),
        (("xor", 2.5), {}, "n_samples: must be a whole number from 4 to 1000000, got 2.5"),
        (("xor", True), {}, "n_samples: must be a whole number from 4 to 1000000, got True"),
        (("xor", 10, -0.1), {}, "noise: must be a number from 0 to 10, got -0.1"),
        (("xor", 10, float("nan")), {}, "noise: must be a number from 0 to 10, got nan"),
        (("xor", 10, "0.1"), {}, "noise: must be a number from 0 to 10, got '0.1'"),
        (("xor", 10, 10.5), {}, "noise: must be a number from 0 to 10, got 10.5"),
        (
            ("xor", 10, 0.1, -1),
            {},
            "seed: must be a whole number from 0 to 9223372036854775807, got -1",
        ),
        (
            ("spirals", 10),
            {"n_classes": 1},
            "n_classes: must be a whole number from 2 to 20, got 1",
        ),
        (("blobs", 5), {"n_classes": 6}, "n_samples: must be at least n_classes (6), got 5"),
        (
            ("blobs", 30),
            {"n_classes": 21},
            "n_classes: must be a whole number from 2 to 20, got 21",
        ),
        (("circles",), {"factor": 1.0}, "factor: must be a number between 0 and 1, got 1.0"),
    ],
)
def test_bad_parameters_are_named(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    assert str(error_of(*args, **kwargs)) == message
