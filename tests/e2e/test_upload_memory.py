"""Uploads over the dataset cap cost the real API process almost no memory: a
decompression bomb is refused from its ``.npy`` headers, a CSV while it is read.

The API runs as ``backprop serve --workers 0`` (uvicorn in its own process); its peak
resident memory (VmHWM) is reset before each upload through ``/proc/PID/clear_refs`` and
read after it. Figures for more cases: ``python benchmarks/upload_memory.py``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import Server, start_server

pytestmark = pytest.mark.e2e

LIMIT_MB = 64
CAP = 1_000


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def api_pid(server: Server) -> int:
    """The uvicorn process `backprop serve` started (its only child with --workers 0)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("upload-memory")
    server = start_server(
        tmp, workers=0, BACKPROP_MAX_DATASET_VALUES=str(CAP), BACKPROP_MAX_BODY_BYTES=str(1 << 27)
    )
    yield server
    server.client.close()
    server.stop()


def bomb() -> bytes:
    """inputs: 20,000 x 2,000 float64 zeros (320 MB) deflated to about 0.3 MB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("inputs.npy", "w", force_zip64=True) as member:
            header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1)))
            header["shape"] = (20_000, 2_000)
            np.lib.format.write_array_header_1_0(member, header)
            chunk = bytes(8 * 2_000 * 500)
            for _ in range(40):
                member.write(chunk)
        archive.writestr("labels.npy", _npy(np.arange(20_000) % 2))
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def csv_8mb() -> bytes:
    rng = np.random.default_rng(0)
    rows = rng.random((42_000, 20)).round(6)
    text = "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows)
    header = ",".join(f"x{i}" for i in range(19)) + ",y"
    return (header + "\n" + text + "\n").encode()


@pytest.mark.parametrize("upload", ["npz bomb", "8 MB CSV"])
def test_an_upload_over_the_cap_is_refused_within_64_mb(capped: Server, upload: str) -> None:
    content, name = (bomb(), "bomb.npz") if upload == "npz bomb" else (csv_8mb(), "big.csv")
    pid = api_pid(capped)
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak to the current RSS
    before = memory_kb(pid, "VmRSS")
    response = capped.client.post(
        "/v1/datasets/upload", files={"file": (name, content, "application/octet-stream")}
    )
    grown_mb = (memory_kb(pid, "VmHWM") - before) / 1024
    assert response.status_code == 422, response.text
    assert f"over the limit of {CAP:,} values (BACKPROP_MAX_DATASET_VALUES)" in response.text
    assert grown_mb <= LIMIT_MB, f"the API's peak memory grew by {grown_mb:.1f} MB"
