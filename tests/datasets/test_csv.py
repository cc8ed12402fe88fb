"""parse_csv: header + rows to ParsedDataset, and every refusal with row and column."""

import numpy as np
import pytest

from app.datasets import DatasetError, parse_csv


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def error_of(data: bytes, **kwargs: object) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        parse_csv(data, **kwargs)
    return info.value


def test_last_column_is_the_default_target() -> None:
    data = parse_csv(csv_bytes("x1,x2,y", "0,0,0", "0,1,1", "1,0,1", "1,1,0"))
    np.testing.assert_array_equal(data.inputs, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.targets, [[0], [1], [1], [0]])
    assert data.task == "classification"
    assert data.classes == ["0", "1"]


def test_named_target_columns_may_be_anywhere() -> None:
    data = parse_csv(csv_bytes("a,y1,b,y2", "1,0.5,2,7", "3,1.5,4,8"), target=["y1", "y2"])
    np.testing.assert_array_equal(data.inputs, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(data.targets, [[0.5, 7], [1.5, 8]])
    assert data.task == "regression"
    assert data.classes is None


def test_target_may_be_one_name() -> None:
    data = parse_csv(csv_bytes("y,x", "1.5,2", "2.5,3"), target="y")
    np.testing.assert_array_equal(data.inputs, [[2], [3]])
    np.testing.assert_array_equal(data.targets, [[1.5], [2.5]])


def test_text_target_is_categorical_one_hot() -> None:
    data = parse_csv(
        csv_bytes("x, species", "1, setosa", "2,virginica", "3 ,setosa", "4,versicolor")
    )
    assert data.task == "classification"
    assert data.classes == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(data.targets.argmax(axis=1), [0, 2, 0, 1])
    np.testing.assert_array_equal(data.inputs[:, 0], [1, 2, 3, 4])


def test_whole_number_target_with_task_classification_is_labels() -> None:
    data = parse_csv(csv_bytes("x,digit", "1,2", "2,10", "3,2", "4,0"), task="classification")
    assert data.classes == ["0", "2", "10"]
    np.testing.assert_array_equal(data.targets.argmax(axis=1), [1, 2, 1, 0])


def test_whole_number_target_is_regression_under_auto() -> None:
    data = parse_csv(csv_bytes("x,digit", "1,2", "2,10", "3,2"))
    assert data.task == "regression"
    np.testing.assert_array_equal(data.targets, [[2], [10], [2]])


def test_one_hot_target_columns_are_classification() -> None:
    data = parse_csv(csv_bytes("x,a,b", "1,1,0", "2,0,1"), target=["a", "b"])
    assert data.task == "classification"
    assert data.classes == ["0", "1"]
    assert data.targets.shape == (2, 2)


def test_bom_crlf_blank_lines_and_spaces_are_tolerated() -> None:
    data = parse_csv(b"\xef\xbb\xbf x1 ,y\r\n\r\n 1.5 , 2\r\n  \r\n3e2,4\r\n")
    np.testing.assert_array_equal(data.inputs, [[1.5], [300]])
    np.testing.assert_array_equal(data.targets, [[2], [4]])


def test_quoted_cells() -> None:
    data = parse_csv(csv_bytes('x,"label, long"', '1,"a, b"', '2,"c"'))
    assert data.classes == ["a, b", "c"]


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (
            csv_bytes("x1,x2,y", "1,2,0", "3,4,1", "5,abc,1"),
            {},
            "row 3, column 'x2': 'abc' is not a number",
        ),
        (
            csv_bytes("x1,x2,y", "1,2,0", "3,,1"),
            {},
            "row 2, column 'x2': is empty, expected a number",
        ),
        (csv_bytes("x1,x2,y", "1,2,0", "nan,4,1"), {}, "row 2, column 'x1': 'nan' is not finite"),
        (csv_bytes("x1,x2,y", "1,-inf,0"), {}, "row 1, column 'x2': '-inf' is not finite"),
        (
            csv_bytes("x1,x2,y", "1,2,0", "3,4"),
            {},
            "row 2: has 2 values, expected 3 (one per header column)",
        ),
        (
            csv_bytes("x1,x2,y", "1,2,0,9"),
            {},
            "row 1: has 4 values, expected 3 (one per header column)",
        ),
        (b"", {}, "file: is empty, expected a header row and data rows"),
        (b"\n \n", {}, "file: is empty, expected a header row and data rows"),
        (csv_bytes("x1,x2,y"), {}, "file: has a header but no data rows"),
        (csv_bytes("x1,x2,y", ""), {}, "file: has a header but no data rows"),
        (b"x,y\n\xff\xfe,1\n", {}, "file: is not UTF-8 text (byte 0xff at offset 4)"),
        (b'x,y\n1,"2"3\n', {}, "file: is not valid CSV at line 2 (',' expected after '\"')"),
        (b'x,y\n1,"2\n', {}, "file: is not valid CSV at line 2 (unexpected end of data)"),
        (csv_bytes("x1,,y", "1,2,3"), {}, "header: column 2 has no name"),
        (csv_bytes("x,x,y", "1,2,3"), {}, "header: column 'x' appears twice"),
        (
            csv_bytes("x1,x2,y", "1,2,3"),
            {"target": ["label"]},
            "target: column 'label' is not in the file; its columns are 'x1', 'x2', 'y'",
        ),
        (
            csv_bytes("x1,x2,y", "1,2,3"),
            {"target": []},
            "target: is empty, name at least one column",
        ),
        (csv_bytes("x1,x2,y", "1,2,3"), {"target": ["y", "y"]}, "target: names a column twice"),
        (
            csv_bytes("x,y", "1,2"),
            {"target": ["x", "y"]},
            "target: takes every column ('x', 'y'); at least one must be an input",
        ),
        (
            csv_bytes("x,y", "1,cat", "2,cat"),
            {},
            "target: every label is 'cat'; classification needs at least 2 classes",
        ),
        (
            csv_bytes("x,y", "1,cat", "2,"),
            {},
            "row 2, column 'y': is empty, expected a class label",
        ),
        (
            csv_bytes("x,y", "1,2", "2,cat"),
            {"task": "regression"},
            "row 2, column 'y': 'cat' is not a number",
        ),
        (
            csv_bytes("x,a,b", "1,2,3", "2,cat,3"),
            {"target": ["a", "b"]},
            "row 2, column 'a': 'cat' is not a number",
        ),
        (
            csv_bytes("x,y", "1,0", "2,2.5"),
            {"task": "classification"},
            "row 2, column 'y': 2.5 is not a class label (task 'classification' needs whole "
            "numbers or names in a single target column)",
        ),
        (
            csv_bytes("x,a,b", "1,1,0", "2,0.5,0.5"),
            {"target": ["a", "b"], "task": "classification"},
            "row 2: is [0.5, 0.5]; task 'classification' needs one-hot rows or a single 0/1 "
            "column (or class labels)",
        ),
        (
            csv_bytes("x,y", "1,2"),
            {"task": "both"},
            "task: must be one of auto, classification, regression, got 'both'",
        ),
    ],
)
def test_bad_csv_is_named(data: bytes, kwargs: dict[str, object], message: str) -> None:
    assert str(error_of(data, **kwargs)) == message


def test_error_fields_for_a_bad_cell() -> None:
    error = error_of(csv_bytes("x1,x2,y", "1,2,0", "3,4,1", "5,abc,1"))
    assert (error.field, error.row, error.column) == (None, 3, "x2")
    assert error.message == "'abc' is not a number"


def test_plain_numbers_and_quoted_numbers_read_the_same() -> None:
    """The NumPy fast path (plain numbers) and the csv-module path agree."""
    plain = csv_bytes("a, b ,y", "", "1.5,-2,0", " 3e-1 , 4 ,1", "5,6,1")
    quoted = csv_bytes('a," b ",y', "", '1.5,-2,"0"', ' 3e-1 , 4 ,"1"', '5,6,"1"')
    for task in ("auto", "classification", "regression"):
        fast, slow = parse_csv(plain, task=task), parse_csv(quoted, task=task)
        np.testing.assert_array_equal(fast.inputs, slow.inputs)
        np.testing.assert_array_equal(fast.targets, slow.targets)
        assert (fast.task, fast.classes) == (slow.task, slow.classes)
    assert parse_csv(plain, target=["b"]).inputs.tolist() == [[1.5, 0], [0.3, 1], [5, 1]]
