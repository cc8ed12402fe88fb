"""benchmarks/engine.py measures what it says it measures.

- its engine rows time ``app.nn.train`` doing one epoch of the stated SGD: the network
  that run finishes with is the one a per-sample SGD written from the formulas
  (tests/nn/optimizer_reference.py) reaches from the same start, with and without the
  direct BLAS calls (the "engine-np" row);
- its "per-sample" row runs a correct mini-batch SGD (Nielsen's loop): its final weights
  are the reference's from its own start, over its own order;
- its table's figures follow from the times: with a clock that advances one second per
  reading, every column is checked against hand arithmetic (the n/(n−1) scaling of the
  epoch timed from its second batch, the per-sample extrapolation, the ratios).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import numpy as np
import pytest

from app.nn import Network, NetworkSpec
from tests.nn import optimizer_reference as ref

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "engine.py"


@pytest.fixture
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_engine", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _engine_result(bench: ModuleType, fn: Any, *args: Any) -> Any:
    """Run one of the script's engine contenders and keep the TrainResult it times."""
    results: list[Any] = []
    real_train = bench.train

    def keep(*a: Any, **kw: Any) -> Any:
        results.append(real_train(*a, **kw))
        return results[-1]

    bench.train = keep
    try:
        fn(*args)
    finally:
        bench.train = real_train
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize("contender", ["run_engine", "run_engine_matmul"])
@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-9), ("float32", 2e-4)])
def test_the_engine_rows_time_a_correct_sgd_epoch(
    bench: ModuleType, contender: str, dtype: str, rtol: float
) -> None:
    x, y, _ = bench.make_data(60)
    batch = 8  # 7 full batches and a short one
    result = _engine_result(bench, getattr(bench, contender), x, y, batch, dtype)
    assert len(result.metrics) == 1
    # the same start and order as that run: the spec's initialisation with seed 1, and
    # the epoch permutation of Generator(PCG64(1)) (no validation split)
    spec = NetworkSpec(
        sizes=bench.SIZES,
        hidden_activation="sigmoid",
        output_activation="sigmoid",
        cost="cross_entropy",
    )
    start = Network.initialize(spec, seed=1, dtype="float64")
    order = np.random.Generator(np.random.PCG64(1)).permutation(len(x))
    x_in = x.astype(dtype).astype(np.float64)  # the inputs the run saw
    want_w, want_b = ref.sgd_epoch(
        start.weights, start.biases, x_in, y, order, batch, bench.LEARNING_RATE
    )
    for got, want in zip(result.network.weights, want_w, strict=True):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2)
    for got, want in zip(result.network.biases, want_b, strict=True):
        np.testing.assert_allclose(got, want.ravel(), rtol=rtol, atol=rtol * 1e-2)
    assert (
        max(np.abs(g - w).max() for g, w in zip(result.network.weights, start.weights, strict=True))
        > 1e-3
    )


def test_the_per_sample_row_runs_a_correct_sgd(bench: ModuleType) -> None:
    x, y, _ = bench.make_data(200)
    batch, fraction = 10, 0.25
    kept: dict[str, Any] = {}

    def watch(frame: FrameType, event: str, arg: object) -> None:
        if event == "return" and frame.f_code is bench.run_per_sample.__code__:
            kept.update(frame.f_locals)

    sys.setprofile(watch)
    try:
        bench.run_per_sample(x, y, batch, "float64", fraction)
    finally:
        sys.setprofile(None)
    n = kept["n"]
    assert n == 50 and sorted(kept["order"]) == list(range(n))
    # its start, drawn as the script does (standard normals / sqrt(fan-in), seed 1)
    rng = np.random.default_rng(1)
    sizes = bench.SIZES
    ws = [
        rng.standard_normal((o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    bs = [rng.standard_normal((o, 1)) for o in sizes[1:]]
    want_w, want_b = ref.sgd_epoch(ws, bs, x[:n], y[:n], kept["order"], batch, bench.LEARNING_RATE)
    for got, want in zip(kept["ws"], want_w, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for got, want in zip(kept["bs"], want_b, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_the_table_follows_from_the_times(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    ticks = iter(range(10**6))
    bench.CLOCK = lambda: float(next(ticks))  # one second per reading
    bench.main(
        ["--samples", "300", "--batches", "10", "--dtypes", "float64", "--repeat", "2",
         "--reference-fraction", "0.1", "--skip", "sklearn", "torch"]
    )  # fmt: skip
    rows = {
        line.split()[2]: line.split()
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("float64")
    }
    assert list(rows) == ["engine", "gemm", "per-sample*", "engine-np"]
    # engine: timed from the end of batch 1 to the epoch's end (one reading apart),
    # scaled by 30 batches / 29; the floor: one second; per-sample: 30 of 300 samples
    # in one second, extrapolated to 10 s
    times = {"engine": 30 / 29, "gemm": 1.0, "per-sample*": 10.0, "engine-np": 30 / 29}
    for name, t in times.items():
        _, batch, _, *rest = rows[name]
        if name == "gemm":
            rest = rest[1:]  # "gemm floor"
        seconds, per_second, vs_engine, vs_floor = rest
        assert batch == "10"
        assert float(seconds) == pytest.approx(t, abs=5e-4)
        assert float(per_second.replace(",", "")) == pytest.approx(300 / t, abs=0.5)
        assert float(vs_engine) == pytest.approx(t / times["engine"], abs=5e-3)
        assert float(vs_floor) == pytest.approx(t, abs=5e-3)
