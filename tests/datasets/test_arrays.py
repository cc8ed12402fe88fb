"""parse_arrays: JSON bodies (nested lists) to ParsedDataset, and every refusal."""

import math

import numpy as np
import pytest

from app.datasets import DatasetError, ParsedDataset, parse_arrays

XOR_INPUTS = [[0, 0], [0, 1], [1, 0], [1, 1]]


def error_of(*args: object, **kwargs: object) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        parse_arrays(*args, **kwargs)
    return info.value


def test_labels_become_one_hot_with_sorted_classes() -> None:
    data = parse_arrays(XOR_INPUTS, labels=["no", "yes", "yes", "no"])
    assert isinstance(data, ParsedDataset)
    assert data.task == "classification"
    assert data.classes == ["no", "yes"]
    np.testing.assert_array_equal(data.targets, [[1, 0], [0, 1], [0, 1], [1, 0]])
    assert data.inputs.dtype == np.float64 and data.targets.dtype == np.float64
    assert (data.n_samples, data.n_features, data.n_outputs) == (4, 2, 2)


def test_integer_labels_sort_numerically() -> None:
    data = parse_arrays([[0]] * 4, labels=[10, 2, 2.0, 1])
    assert data.classes == ["1", "2", "10"]
    np.testing.assert_array_equal(data.targets.argmax(axis=1), [2, 1, 1, 0])


def test_single_01_column_stays_one_binary_output() -> None:
    data = parse_arrays(XOR_INPUTS, targets=[[0], [1], [1], [0]])
    assert data.task == "classification"
    assert data.classes == ["0", "1"]
    assert data.targets.shape == (4, 1)


def test_flat_targets_are_one_column() -> None:
    data = parse_arrays(XOR_INPUTS, targets=[0, 1, 1, 0])
    assert data.targets.shape == (4, 1)
    assert data.task == "classification"


def test_one_hot_targets_are_classification_with_index_classes() -> None:
    data = parse_arrays(XOR_INPUTS, targets=[[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])
    assert data.task == "classification"
    assert data.classes == ["0", "1", "2"]


def test_real_targets_are_regression() -> None:
    data = parse_arrays([[0.0], [1.5]], targets=[[0.25, 2.0], [1.0, -3.0]])
    assert data.task == "regression"
    assert data.classes is None
    np.testing.assert_array_equal(data.inputs, [[0.0], [1.5]])
    np.testing.assert_array_equal(data.targets, [[0.25, 2.0], [1.0, -3.0]])


def test_task_regression_overrides_01_targets() -> None:
    data = parse_arrays(XOR_INPUTS, targets=[[0], [1], [1], [0]], task="regression")
    assert data.task == "regression"
    assert data.classes is None


def test_numpy_arrays_are_accepted() -> None:
    data = parse_arrays(np.array(XOR_INPUTS, dtype=np.int32), targets=np.array([0, 1, 1, 0]))
    assert data.inputs.dtype == np.float64
    assert data.targets.shape == (4, 1)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([[1, 2], [3, 4], [5, 6, 7], [8, 9]], "inputs[2]: has 3 values, expected 2"),
        ([[1, 2], [3]], "inputs[1]: has 1 value, expected 2"),
        ([], "inputs: is empty, expected at least one row"),
        ([[], []], "inputs[0]: is empty, expected a list of numbers"),
        ([[1], []], "inputs[1]: is empty, expected a list of numbers"),
        ("abc", "inputs: expected a list of rows, got 'abc'"),
        (None, "inputs: expected a list of rows, got null"),
        ([1, 2], "inputs[0]: expected a list of numbers, got 1"),
        ([[1, 2], 3], "inputs[1]: expected a list of numbers, got 3"),
        ([[1, "abc"]], "inputs[0][1]: 'abc' is not a number"),
        ([[1, None]], "inputs[0][1]: null is not a number"),
        ([[1, [2]], [3, 4]], "inputs[0][1]: a list is not a number"),
        ([[0, 0], [0, 1], [1, 0], [1, 1], [0.5, math.nan]], "inputs[4][1]: is not finite (nan)"),
        ([[0, 0], [0, 1], [1, 0], [1, 1], [math.inf, 0]], "inputs[4][0]: is not finite (inf)"),
    ],
)
def test_bad_inputs_are_named(inputs: object, message: str) -> None:
    n = len(inputs) if isinstance(inputs, list) else 1
    error = error_of(inputs, targets=[0.0] * max(n, 1))
    assert str(error) == message


def test_error_carries_field_and_message() -> None:
    error = error_of([[1, 2], [3]], targets=[0, 1])
    assert (error.field, error.row, error.column) == ("inputs[1]", None, None)
    assert error.message == "has 1 value, expected 2"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"targets": [[0], [1], [1]]},
            "targets: has 3 rows but inputs has 4 rows",
        ),
        (
            {"labels": ["a", "b", "a", "b", "a"]},
            "labels: has 5 labels but inputs has 4 rows",
        ),
        (
            {"targets": [[0], [1], [1], [0]], "labels": ["a", "b", "a", "b"]},
            "targets: give either targets (numbers) or labels (class names), not both",
        ),
        ({}, "targets: missing: give targets (numbers) or labels (class names)"),
        ({"targets": [[0], [1], [math.nan], [0]]}, "targets[2][0]: is not finite (nan)"),
        ({"targets": [0, 1, -math.inf, 0]}, "targets[2]: is not finite (-inf)"),
        ({"targets": [0, 1, "x", 0]}, "targets[2]: 'x' is not a number"),
        ({"targets": [[0], [1, 0], [1], [0]]}, "targets[1]: has 2 values, expected 1"),
        ({"labels": "abab"}, "labels: expected a list of class labels, got 'abab'"),
        (
            {"labels": ["a", 1.5, "a", "b"]},
            "labels[1]: 1.5 is not a class label (expected a string or a whole number)",
        ),
        ({"labels": ["a", " ", "a", "b"]}, "labels[1]: is empty, expected a class label"),
        (
            {"labels": ["a", "a", "a", "a"]},
            "labels: every label is 'a'; classification needs at least 2 classes",
        ),
        (
            {"labels": ["a", "b", "a", "b"], "task": "regression"},
            "task: labels are class names, so the task cannot be 'regression'; "
            "send numeric targets instead",
        ),
        (
            {"targets": [0, 1, 1, 0], "task": "guess"},
            "task: must be one of auto, classification, regression, got 'guess'",
        ),
        (
            {"targets": [[1, 0], [0, 1], [0.2, 0.8], [1, 0]], "task": "classification"},
            "targets[2]: is [0.2, 0.8]; task 'classification' needs one-hot rows or a single "
            "0/1 column (or class labels)",
        ),
        (
            {"targets": [[1, 1], [0, 1], [1, 0], [1, 0]], "task": "classification"},
            "targets[0]: is [1, 1]; task 'classification' needs one-hot rows or a single "
            "0/1 column (or class labels)",
        ),
    ],
)
def test_bad_targets_and_labels_are_named(kwargs: dict[str, object], message: str) -> None:
    assert str(error_of(XOR_INPUTS, **kwargs)) == message
