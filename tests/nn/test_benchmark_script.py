"""benchmarks/engine.py keeps running (a smoke run on tiny data; nothing is timed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "engine.py"


def test_benchmark_prints_a_row_per_contender(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_engine", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(
        [
            "--samples",
            "300",
            "--batches",
            "10",
            "--dtypes",
            "float32",
            "--repeat",
            "1",
            "--reference-fraction",
            "0.1",
            "--skip",
            "sklearn",
            "torch",
        ]
    )
    rows = [
        line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("float32")
    ]
    assert [row[2] for row in rows] == ["engine", "gemm", "per-sample*", "engine-np"]
    assert rows[0][-2:] == ["1.00", rows[0][-1]]  # the engine against itself
