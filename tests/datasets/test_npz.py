"""parse_npz, encode_array/decode_array and encode_values/decode_values: NumPy files,
never unpickled."""

import io
import zipfile

import numpy as np
import pytest

from app.datasets import (
    DatasetError,
    decode_array,
    decode_values,
    encode_array,
    encode_values,
    parse_npz,
    view_array,
)
from app.nn import train
from app.nn.spec import NetworkSpec, TrainingConfig


def npz_bytes(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def pickled_npz(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # object arrays are pickled
    return buffer.getvalue()


def error_of(data: bytes, **kwargs: object) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        parse_npz(data, **kwargs)
    return info.value


XOR = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)


def test_inputs_and_targets() -> None:
    data = parse_npz(npz_bytes(inputs=XOR, targets=np.array([0, 1, 1, 0])))
    assert data.inputs.dtype == np.float64
    np.testing.assert_array_equal(data.inputs, XOR)
    np.testing.assert_array_equal(data.targets, [[0], [1], [1], [0]])
    assert data.task == "classification"
    assert data.classes == ["0", "1"]


def test_regression_targets() -> None:
    targets = np.array([[0.5, 1.0], [1.5, 2.0], [2.5, 3.0], [3.5, 4.0]])
    data = parse_npz(npz_bytes(inputs=XOR, targets=targets))
    assert data.task == "regression"
    np.testing.assert_array_equal(data.targets, targets)


def test_integer_labels_and_image_inputs_are_flattened() -> None:
    images = np.arange(4 * 3 * 2, dtype=np.uint8).reshape(4, 3, 2)
    data = parse_npz(npz_bytes(inputs=images, labels=np.array([3, 0, 9, 3])))
    assert data.inputs.shape == (4, 6)
    np.testing.assert_array_equal(data.inputs[1], np.arange(6, 12))
    assert data.classes == ["0", "3", "9"]
    np.testing.assert_array_equal(data.targets.argmax(axis=1), [1, 0, 2, 1])


def test_string_and_byte_labels() -> None:
    data = parse_npz(npz_bytes(inputs=XOR, labels=np.array(["b", "a", "a", "b"])))
    assert data.classes == ["a", "b"]
    data = parse_npz(npz_bytes(inputs=XOR, labels=np.array([b"y", b"n", b"n", b"y"])))
    assert data.classes == ["n", "y"]


def test_extra_arrays_are_ignored() -> None:
    data = parse_npz(npz_bytes(inputs=XOR, labels=np.array([0, 1, 1, 0]), notes=np.zeros(3)))
    assert data.n_samples == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"inputs,targets\n1,2\n", "file: is not an .npz archive (not a zip file)"),
        (encode_array(XOR), "file: is not an .npz archive (not a zip file)"),
        (
            pickled_npz(inputs=np.array([[1], [2]], dtype=object), targets=np.array([1, 2])),
            "file: object arrays (pickle) are not accepted",
        ),
        (
            pickled_npz(inputs=XOR, labels=np.array(["a", 1, "b", 2], dtype=object)),
            "file: object arrays (pickle) are not accepted",
        ),
        (npz_bytes(x=XOR, y=np.zeros(4)), "file: has no 'inputs' array; its arrays are 'x', 'y'"),
        (
            npz_bytes(inputs=XOR, targets=np.zeros(4), labels=np.zeros(4)),
            "file: has both 'targets' and 'labels'; keep one",
        ),
        (
            npz_bytes(inputs=XOR),
            "file: has neither 'targets' nor 'labels'; its arrays are 'inputs'",
        ),
        (
            npz_bytes(inputs=np.array(["a", "b"]), targets=np.zeros(2)),
            "inputs: has dtype <U1, expected numbers",
        ),
        (
            npz_bytes(inputs=np.float64(3.0), targets=np.zeros(1)),
            "inputs: is a single number, expected one row per sample",
        ),
        (
            npz_bytes(inputs=np.zeros((0, 2)), targets=np.zeros(0)),
            "inputs: is empty, expected at least one row",
        ),
        (
            npz_bytes(inputs=np.zeros((2, 0)), targets=np.zeros(2)),
            "inputs: has rows with no values",
        ),
        (
            npz_bytes(inputs=np.array([[0.0, 1.0], [np.nan, 2.0]]), targets=np.zeros(2)),
            "inputs[1][0]: is not finite (nan)",
        ),
        (
            npz_bytes(inputs=XOR, targets=np.array([0.0, 1.0, np.inf, 0.0])),
            "targets[2]: is not finite (inf)",
        ),
        (npz_bytes(inputs=XOR, targets=np.zeros(3)), "targets: has 3 rows but inputs has 4 rows"),
        (
            npz_bytes(inputs=XOR, targets=np.zeros((4, 1, 1))),
            "targets: has 3 dimensions, expected 1 or 2",
        ),
        (
            npz_bytes(inputs=XOR, labels=np.array([0, 1, 1])),
            "labels: has 3 labels but inputs has 4 rows",
        ),
        (
            npz_bytes(inputs=XOR, labels=np.zeros((4, 2))),
            "labels: has shape (4, 2), expected one label per sample",
        ),
        (
            npz_bytes(inputs=XOR, labels=np.array([0.0, 0.5, 1.0, 1.0])),
            "labels[1]: 0.5 is not a class label (expected a string or a whole number)",
        ),
        (
            npz_bytes(inputs=XOR, labels=np.array([1 + 0j, 0j, 0j, 0j])),
            "labels: has dtype complex128, expected strings or integers",
        ),
    ],
)
def test_bad_npz_is_named(data: bytes, message: str) -> None:
    assert str(error_of(data)) == message


def test_member_that_is_not_npy_is_reported() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inputs.npy", b"not an npy header")
        archive.writestr("targets.npy", encode_array(np.zeros(4)))
    assert str(error_of(buffer.getvalue())) == "file: array 'inputs' is not .npy data"


def test_task_is_checked() -> None:
    assert str(error_of(npz_bytes(inputs=XOR, targets=np.zeros(4)), task="x")) == (
        "task: must be one of auto, classification, regression, got 'x'"
    )


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.float64).reshape(3, 4),
        np.array([1, 2, 3], dtype=np.int8),
        np.array(["a", "bc"]),
        np.zeros((0, 5), dtype=np.float32),
        np.array(2.5),
    ],
)
def test_encode_decode_round_trip(array: np.ndarray) -> None:
    data = encode_array(array)
    assert isinstance(data, bytes)
    assert data.startswith(b"\x93NUMPY")
    back = decode_array(data)
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_encode_refuses_object_arrays() -> None:
    with pytest.raises(DatasetError) as info:
        encode_array(np.array([{"a": 1}], dtype=object))
    assert str(info.value) == "array: object arrays (pickle) are not accepted"


def test_decode_refuses_pickles_and_garbage() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError) as info:
        decode_array(buffer.getvalue())
    assert str(info.value) == "array: object arrays (pickle) are not accepted"
    with pytest.raises(DatasetError) as info:
        decode_array(npz_bytes(a=np.zeros(2)))
    assert str(info.value) == "array: is an .npz archive, expected .npy data"
    with pytest.raises(DatasetError) as info:
        decode_array(b"\x93NUMPY garbage")
    assert str(info.value).startswith("array: is not .npy data (")


def test_truncated_member_is_reported() -> None:
    good = encode_array(np.zeros((4, 2)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inputs.npy", good[: len(good) - 10])
        archive.writestr("targets.npy", encode_array(np.zeros(4)))
    message = str(error_of(buffer.getvalue()))
    assert message.startswith("file: array 'inputs' cannot be read (")


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        (np.random.default_rng(0).random((50, 7)).astype(np.float32), "<f4"),  # a float32 upload
        (np.arange(-300.0, 300.0).reshape(20, 30), "<f4"),  # integers, 0/1 labels
        (np.array([[0.1, 0.5]]), "<f8"),  # 0.1 is not a float32
        (np.array([[1e300, 1.0]]), "<f8"),  # beyond float32's range
        (np.array([[2.0**-160, 1.0]]), "<f8"),  # below float32's smallest subnormal
        (np.array([[-0.0, 2.0**-149]]), "<f4"),  # float32's smallest subnormal
    ],
)
def test_values_are_stored_as_float32_only_when_exact(values: np.ndarray, stored: str) -> None:
    data = encode_values(values.astype(np.float64))
    assert decode_array(data).dtype.str == stored
    back = decode_values(data)
    assert back.dtype == np.float64
    assert back.tobytes() == values.astype(np.float64).tobytes()  # the same numbers, -0.0 too
    if stored == "<f4":  # 4 bytes a value, not 8
        assert len(data) == len(encode_array(values.astype(np.float32)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_on_float32_stored_values_is_bit_identical(dtype: str) -> None:
    """The worker trains on the stored array as it is (a float32 view); the engine's cast
    to the job's dtype must give exactly what the float64 values give."""
    rng = np.random.default_rng(1)
    x = rng.random((60, 4)).astype(np.float32).astype(np.float64)
    y = (rng.random((60, 2)) > 0.5).astype(np.float64)
    stored_x, stored_y = view_array(encode_values(x)), view_array(encode_values(y))
    assert stored_x.dtype == np.float32 and stored_y.dtype == np.float32
    spec = NetworkSpec.from_dict({"sizes": [4, 5, 2], "cost": "cross_entropy"})
    config = TrainingConfig(
        epochs=3, batch_size=7, learning_rate=0.5, seed=2, dtype=dtype, validation_fraction=0.2
    )
    wide, narrow = train(spec, config, x, y), train(spec, config, stored_x, stored_y)
    for a, b in zip(wide.network.params, narrow.network.params, strict=True):
        assert a.dtype == b.dtype == np.dtype(dtype)
        assert a.tobytes() == b.tobytes()
    strip = [dict(m.to_dict(), seconds=0) for m in wide.metrics]
    assert strip == [dict(m.to_dict(), seconds=0) for m in narrow.metrics]
