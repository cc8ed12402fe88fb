"""The size cap (``max_values``) of parse_npz and parse_csv, file objects, and memory.

The memory tests parse in a fresh process and read its peak resident memory (VmHWM,
reset to the current RSS first through /proc/self/clear_refs) before and after one
parser call: an .npz whose 0.3 MB inflate to 320 MB, and an 8.6 MB CSV (plain numbers,
or with class names as the target), all over a cap of 1,000 values, must each cost at
most 64 MB. (The former parsers, which read everything and left the cap to the route,
grew by about 650 MB, 60 MB and 110 MB: benchmarks/upload_memory.py --before-root
prints them.)
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app.datasets import DatasetError, DatasetTooLarge, parse_csv, parse_npz

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MB = 64


def npz_bytes(**arrays: object) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def write_npz_bomb(target: io.BufferedIOBase | Path, shape: tuple[int, int]) -> None:
    """``inputs`` of ``shape`` float64 zeros, deflated, written a block at a time (never
    in memory whole), and small ``targets``."""
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("inputs.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            block = np.zeros((1000, shape[1])).tobytes()
            for _ in range(shape[0] // 1000):
                member.write(block)
        with archive.open("targets.npy", "w") as member:
            np.lib.format.write_array(member, np.zeros(shape[0]))


def csv_text(rows: int, columns: int = 20, seed: int = 0, labels: bool = False) -> str:
    """Random inputs in [0, 1) with 6 decimals; the target 1, or class names."""
    rng = np.random.default_rng(seed)
    lines = [",".join([f"x{k}" for k in range(columns - 1)] + ["y"])]
    for row in rng.random((rows, columns)):
        target = ("cat", "dog", "owl")[int(row[-1] * 3)] if labels else "1"
        lines.append(",".join(f"{v:.6f}" for v in row[:-1]) + "," + target)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- npz
def test_npz_inputs_over_the_cap_are_refused_from_the_header() -> None:
    buffer = io.BytesIO()
    write_npz_bomb(buffer, (20_000, 2_000))
    assert len(buffer.getvalue()) < 1_000_000
    with pytest.raises(DatasetTooLarge) as info:
        parse_npz(buffer.getvalue(), max_values=1_000)
    assert str(info.value) == (
        "inputs: 40,000,000 values (20,000 x 2,000) is over the limit of 1,000 values "
        "(BACKPROP_MAX_DATASET_VALUES)"
    )
    assert (info.value.values, info.value.limit, info.value.field) == (40_000_000, 1_000, "inputs")
    assert isinstance(info.value, DatasetError)


def test_npz_cap_counts_flattened_features_and_allows_the_limit() -> None:
    images = np.zeros((5, 4, 3))  # 5 rows x 12 features after flattening
    data = npz_bytes(inputs=images, labels=np.arange(5) % 2)
    assert parse_npz(data, max_values=60).inputs.shape == (5, 12)
    with pytest.raises(
        DatasetTooLarge, match=r"^inputs: 60 values \(5 x 12\) is over the limit of 59"
    ):
        parse_npz(data, max_values=59)


def test_npz_targets_and_labels_are_capped_too() -> None:
    targets = npz_bytes(inputs=np.zeros((4, 2)), targets=np.zeros((4, 300)))
    with pytest.raises(DatasetTooLarge, match=r"^targets: 1,200 values \(4 x 300\)"):
        parse_npz(targets, max_values=1_000)
    labels = npz_bytes(inputs=np.zeros((4, 2)), labels=np.array(["a", "b", "a", "b" * 2000]))
    with pytest.raises(DatasetError) as info:
        parse_npz(labels, max_values=1_000)
    assert str(info.value) == "labels: has labels of up to 2,000 characters; the limit is 1,000"
    assert parse_npz(labels).classes is not None  # no cap: as before


def test_npz_errors_before_the_inputs_keep_their_order() -> None:
    # the cap is checked just before an array is read, after the archive's own checks
    with pytest.raises(DatasetError) as info:
        parse_npz(npz_bytes(inputs=np.zeros((100, 100))), max_values=10)
    assert str(info.value) == "file: has neither 'targets' nor 'labels'; its arrays are 'inputs'"


@pytest.mark.parametrize("kind", ["bytesio", "spooled"])
def test_npz_from_a_file_object(kind: str) -> None:
    data = npz_bytes(inputs=np.arange(8.0).reshape(4, 2), labels=np.array([0, 1, 1, 0]))
    source: io.IOBase
    if kind == "bytesio":
        source = io.BytesIO(b"xx" + data)
        source.seek(2)  # read from the current position
    else:
        source = tempfile.SpooledTemporaryFile(max_size=16)  # noqa: SIM115 (closed below)
        source.write(data)
        source.seek(0)
    parsed = parse_npz(source, max_values=8)  # type: ignore[arg-type]
    np.testing.assert_array_equal(parsed.inputs, np.arange(8.0).reshape(4, 2))
    assert parsed.classes == ["0", "1"]
    source.close()


# --------------------------------------------------------------------------- csv
def test_csv_stops_at_the_first_row_over_the_cap() -> None:
    # 19 inputs per row: 52 rows are 988 values, row 53 makes 1,007
    text = csv_text(10_000) + "this,row,is,never,reached\n"
    with pytest.raises(DatasetTooLarge) as info:
        parse_csv(text.encode(), max_values=1_000)
    assert str(info.value) == (
        "inputs: 1,007 values (53 x 19) by data row 53 is over the limit of 1,000 values "
        "(BACKPROP_MAX_DATASET_VALUES)"
    )
    assert (info.value.values, info.value.limit) == (1_007, 1_000)
    assert parse_csv(csv_text(52).encode(), max_values=988).inputs.shape == (52, 19)


def test_csv_cap_on_the_csv_module_path() -> None:
    # quoted cells go through the csv module: the same cap, the same message
    text = 'a,b,"y"\n' + "".join(f'{k},{k + 1},"c{k % 3}"\n' for k in range(100))
    text += '1,"never reached\n'  # would be invalid CSV
    with pytest.raises(DatasetTooLarge) as info:
        parse_csv(text.encode(), max_values=50)
    assert str(info.value) == (
        "inputs: 52 values (26 x 2) by data row 26 is over the limit of 50 values "
        "(BACKPROP_MAX_DATASET_VALUES)"
    )
    ok = 'a,b,"y"\n' + "".join(f'{k},{k + 1},"c{k % 3}"\n' for k in range(25))
    assert parse_csv(ok.encode(), max_values=50).classes == ["c0", "c1", "c2"]


@pytest.mark.parametrize(
    "text",
    [
        "x1,x2,y\n1,2,0\n3,4,1\n5,6,1\n",  # plain numbers (NumPy's reader)
        'x1,x2,y\n1,2,"0"\n3,4,"1"\n5,6,"1"\n',  # quoted (the csv module)
        "x1,x2,y\n1,2,cat\n3,4,dog\n5,6,cat\n",  # class names
    ],
)
def test_csv_from_a_file_object_reads_as_the_bytes(text: str) -> None:
    want = parse_csv(text.encode())
    with tempfile.SpooledTemporaryFile(max_size=8) as spooled:  # rolled over to disk
        spooled.write(text.encode())
        spooled.seek(0)
        got = parse_csv(spooled, max_values=6)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got.inputs, want.inputs)
    np.testing.assert_array_equal(got.targets, want.targets)
    assert (got.task, got.classes) == (want.task, want.classes)


def test_csv_in_chunks_reads_as_a_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines and multi-byte characters split across read chunks, a line longer than a
    chunk, a BOM: read 7 bytes and 5 cells at a time, the same dataset as at once."""
    import app.datasets.csvfile as csvfile

    text = "\ufeffx,é_long_name" + "z" * 50 + ",y\n"
    text += "".join(f"{k},{k * 0.5},{'é' if k % 2 else 'ö'}\n" for k in range(40))
    plain = csv_text(30)
    want = [parse_csv(t.encode()) for t in (text, plain)]
    monkeypatch.setattr(csvfile, "CHUNK", 7)
    monkeypatch.setattr(csvfile, "BLOCK_CELLS", 5)
    got = [parse_csv(t.encode(), max_values=10**6) for t in (text, plain)]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.inputs, w.inputs)
        np.testing.assert_array_equal(g.targets, w.targets)
        assert (g.task, g.classes) == (w.task, w.classes)
    assert got[0].classes == ["é", "ö"] and got[1].inputs.shape == (30, 19)
    np.testing.assert_array_equal(got[0].inputs[:, 1], np.arange(40) * 0.5)


def test_csv_utf8_error_offset_is_in_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.datasets.csvfile as csvfile

    data = b"x,y\n" + b"1,2\n" * 10 + b"3,\xe2\x82\n"  # a character cut short at the end
    message = "file: is not UTF-8 text (byte 0xe2 at offset 46)"
    with pytest.raises(DatasetError, match=f"^{re.escape(message)}$"):
        parse_csv(data)
    monkeypatch.setattr(csvfile, "CHUNK", 5)
    with pytest.raises(DatasetError, match=f"^{re.escape(message)}$"):
        parse_csv(data)
    with pytest.raises(DatasetError, match=r"^file: is not UTF-8 text \(byte 0xff at offset 7\)$"):
        parse_csv(b"\xef\xbb\xbfx,y\n\xff,1\n")  # counted from the file's first byte


# --------------------------------------------------------------------------- memory
CHILD = r"""
import inspect, json, sys
sys.path.insert(0, sys.argv[1])
from app.datasets import DatasetError, parse_csv, parse_npz

kind, path, how = sys.argv[2], sys.argv[3], sys.argv[4]
source = open(path, "rb")
data = source if how == "file" else source.read()


def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak (VmHWM) starts again from the current RSS
before = status("VmRSS")
parse = parse_npz if kind == "npz" else parse_csv
try:
    if "max_values" in inspect.signature(parse).parameters:
        parse(data, max_values=1000)
        outcome = "parsed"
    else:  # a parser without the cap (the former code): parse, then the route's check
        parsed = parse(data)
        over = parsed.n_samples * parsed.n_features > 1000
        outcome = "refused after parsing" if over else "parsed"
except DatasetError as exc:
    outcome = type(exc).__name__
print(json.dumps({"outcome": outcome, "growth_mb": (status("VmHWM") - before) / 1024}))
"""


def _peak_growth(kind: str, path: Path, how: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), kind, str(path), how],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc/self/clear_refs"
)


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    bomb = folder / "bomb.npz"
    write_npz_bomb(bomb, (20_000, 2_000))  # 320 MB of float64 inflated
    plain, labels = folder / "plain.csv", folder / "labels.csv"
    plain.write_text(csv_text(50_000))  # about 8.6 MB
    labels.write_text(csv_text(50_000, labels=True))  # the same, class names as the target
    return {"npz": bomb, "csv": plain, "csv-labels": labels}


@needs_proc
@pytest.mark.parametrize("how", ["bytes", "file"])
@pytest.mark.parametrize("upload", ["npz", "csv", "csv-labels"])
def test_an_upload_over_the_cap_costs_little_memory(
    uploads: dict[str, Path], upload: str, how: str
) -> None:
    path = uploads[upload]
    size = path.stat().st_size
    assert (size < 1_000_000) if upload == "npz" else (size > 8 << 20)
    result = _peak_growth(upload[:3], path, how)
    assert float(str(result["growth_mb"])) <= LIMIT_MB, result
    assert result["outcome"] == "DatasetTooLarge"
