"""task="auto" on numeric targets: class numbers, 0/1, or regression (core's docstring)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from app.datasets import DatasetError, parse_arrays, parse_csv, parse_npz

DIGITS = np.arange(100) % 10  # 0-9, ten rows each


def csv_of(targets: np.ndarray | list[object], name: str = "label") -> bytes:
    rows = [f"{k},{k * 0.5},{t}" for k, t in enumerate(targets)]
    return ("x1,x2," + name + "\n" + "\n".join(rows) + "\n").encode()


def npz_of(targets: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, inputs=np.zeros((len(targets), 2)), targets=targets)
    return buffer.getvalue()


def test_csv_digit_labels_are_ten_classes() -> None:
    data = parse_csv(csv_of(DIGITS))
    assert data.task == "classification"
    assert data.n_outputs == 10
    assert data.classes == [str(k) for k in range(10)]
    np.testing.assert_array_equal(data.targets, np.eye(10)[DIGITS])
    np.testing.assert_array_equal(data.inputs[:, 0], np.arange(100))


def test_classes_are_named_by_the_numbers_in_numeric_order() -> None:
    labels = np.array([3, 10, 7, 3, 10, 7, 3, 10])  # three classes in eight rows
    data = parse_csv(csv_of(labels))
    assert data.classes == ["3", "7", "10"]
    np.testing.assert_array_equal(data.targets.argmax(axis=1), [0, 2, 1, 0, 2, 1, 0, 2])


def test_csv_float_targets_are_regression() -> None:
    data = parse_csv(csv_of(DIGITS + 0.5))
    assert (data.task, data.n_outputs, data.classes) == ("regression", 1, None)


def test_whole_dollar_prices_are_regression() -> None:
    prices = np.random.default_rng(0).integers(90_000, 900_000, 200)  # ~all distinct
    data = parse_csv(csv_of(prices, "price"))
    assert (data.task, data.n_outputs) == ("regression", 1)
    np.testing.assert_array_equal(data.targets[:, 0], prices)


def test_explicit_regression_keeps_integers() -> None:
    data = parse_csv(csv_of(DIGITS), task="regression")
    assert (data.task, data.n_outputs, data.classes) == ("regression", 1, None)
    np.testing.assert_array_equal(data.targets[:, 0], DIGITS)


def test_a_01_column_stays_one_binary_output() -> None:
    data = parse_csv(csv_of(DIGITS % 2))
    assert (data.task, data.n_outputs, data.classes) == ("classification", 1, ["0", "1"])


@pytest.mark.parametrize(
    ("targets", "why"),
    [
        (np.array([2, 10, 2]), "as many distinct values as half the rows or more"),
        (np.arange(40) % 20, "20 distinct values in 40 rows: not fewer than half"),
        (np.arange(1010) % 101, "101 distinct values"),
        (np.arange(100) % 10 - 5, "negative numbers"),
        (np.full(10, 4), "a single value"),
    ],
)
def test_other_integer_columns_are_regression(targets: np.ndarray, why: str) -> None:
    assert parse_csv(csv_of(targets)).task == "regression", why


def test_the_bounds_of_the_rule() -> None:
    assert parse_csv(csv_of(np.arange(1000) % 100)).n_outputs == 100  # 100 classes
    assert parse_csv(csv_of(np.arange(41) % 20)).n_outputs == 20  # 20 < 41 / 2
    assert parse_csv(csv_of(np.arange(5) % 2 + 1)).classes == ["1", "2"]  # two classes


@pytest.mark.parametrize("shape", [(100,), (100, 1)])
def test_npz_targets_follow_the_same_rule(shape: tuple[int, ...]) -> None:
    data = parse_npz(npz_of(DIGITS.reshape(shape)))
    assert (data.task, data.n_outputs) == ("classification", 10)
    assert data.classes == [str(k) for k in range(10)]
    np.testing.assert_array_equal(data.targets, np.eye(10)[DIGITS])
    as_floats = parse_npz(npz_of(DIGITS.astype(np.float32).reshape(shape)))
    assert as_floats.classes == data.classes  # whole numbers, whatever the dtype
    assert parse_npz(npz_of(DIGITS), task="regression").task == "regression"
    assert parse_npz(npz_of(DIGITS + 0.25)).task == "regression"


def test_json_targets_follow_the_same_rule() -> None:
    data = parse_arrays(np.zeros((100, 2)), targets=[[int(v)] for v in DIGITS])
    assert (data.task, data.n_outputs) == ("classification", 10)
    assert parse_arrays(np.zeros((100, 2)), targets=DIGITS.tolist(), task="regression").task == (
        "regression"
    )


def test_explicit_classification_takes_any_whole_numbers() -> None:
    # like a CSV target column with task "classification": every whole number is a class
    data = parse_npz(npz_of(np.array([5, -1, 5, 7])), task="classification")
    assert data.classes == ["-1", "5", "7"]
    with pytest.raises(DatasetError) as info:
        parse_npz(npz_of(np.array([0.0, 2.5, 1.0, 1.0])), task="classification")
    assert str(info.value) == (
        "targets[1]: is [2.5]; task 'classification' needs one-hot rows or a single 0/1 "
        "column (or class labels)"
    )
