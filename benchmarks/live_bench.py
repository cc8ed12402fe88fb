"""How fast the live view is: plot rendering, event-stream latency and replay.

    .venv/bin/python benchmarks/live_bench.py

Runs the API with uvicorn in a thread on a temporary SQLite file and plays the worker's
part through `app.jobqueue` (as tests/api/test_events.py does), so the latency measured
is the stream's own: from an epoch's commit to its event at the client. Prints one line per figure.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from httpx_sse import connect_sse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.db.migrate import upgrade_head  # noqa: E402
from tests.helpers import Driver, ThreadServer, make_dataset, make_job  # noqa: E402


def timed(fn, repeat: int = 5, clock=time.perf_counter):  # type: ignore[no-untyped-def]
    """(median, min) seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times), min(times)


def cpu(fn, repeat: int = 5):  # type: ignore[no-untyped-def]
    """(median, min) CPU seconds of this process: steadier than wall time on a busy box."""
    return timed(fn, repeat, time.process_time)


def bench_render() -> None:
    start = time.perf_counter()
    from app.plots import render
    from app.plots.grid import boundary_grid

    print(f"import app.plots.render (matplotlib): {time.perf_counter() - start:.2f} s")
    for n in (30, 1000):
        metrics = [
            {
                "epoch": e,
                "train_loss": 1 / e,
                "train_accuracy": 1 - 1 / (e + 1),
                "validation_loss": 1.1 / e,
                "validation_accuracy": 1 - 1.2 / (e + 1),
            }
            for e in range(1, n + 1)
        ]
        for fmt in ("svg", "png"):
            med, best = cpu(lambda m=metrics, f=fmt: render.loss_plot(m, title="t", fmt=f))
            print(f"loss.{fmt}, {n} epochs: median {med * 1000:.0f} ms CPU (min {best * 1000:.0f})")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, :1] * x[:, 1:] > 0).astype(float)
    w = rng.normal(size=(2, 16))

    def forward(p: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-np.tanh(p @ w).sum(axis=1, keepdims=True)))

    for res in (100, 400):
        med, best = cpu(
            lambda r=res: render.decision_boundary_plot(
                boundary_grid(forward, x, r),
                x,
                y,
                task="classification",
                classes=["0", "1"],
                title="t",
            )
        )
        print(
            f"decision-boundary.png, {res}x{res} grid, 400 points: median "
            f"{med * 1000:.0f} ms CPU (min {best * 1000:.0f})"
        )


def bench_stream(tmp: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp / 'bench.db'}")
    upgrade_head(settings)
    driver = Driver(settings)
    with ThreadServer(settings) as server, httpx.Client(base_url=server.url) as api:
        job = make_job(api, make_dataset(api), epochs=60)
        lease = driver.claim()
        arrived: dict[int, float] = {}
        ready = threading.Event()

        def read() -> None:
            with (
                httpx.Client(base_url=server.url, timeout=60) as client,
                connect_sse(client, "GET", f"/v1/jobs/{job['id']}/events") as source,
            ):
                for sse in source.iter_sse():
                    if sse.event == "status":
                        ready.set()
                    if sse.event == "metrics":
                        arrived[json.loads(sse.data)["epoch"]] = time.perf_counter()

        reader = threading.Thread(target=read)
        reader.start()
        ready.wait(10)
        committed: dict[int, float] = {}
        rng = np.random.default_rng(1)
        for epoch in range(1, 61):
            driver.epoch(lease, epoch)
            committed[epoch] = time.perf_counter()
            time.sleep(float(rng.uniform(0, 0.1)))
        driver.finish(lease)
        reader.join(30)
        lags = [arrived[e] - committed[e] for e in committed]
        print(
            f"event latency (commit -> client), 60 epochs, poll 0.5 s: median "
            f"{statistics.median(lags) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms"
        )

        big = make_job(api, make_dataset(api), epochs=5000)
        lease = driver.claim()
        with driver.sessions() as session:
            from app import jobqueue
            from tests.helpers import metric_row

            for epoch in range(1, 5001):
                jobqueue.record_epoch(session, lease, metric_row(epoch))
        driver.finish(lease)
        start = time.perf_counter()
        with (
            httpx.Client(base_url=server.url, timeout=60) as client,
            connect_sse(client, "GET", f"/v1/jobs/{big['id']}/events") as source,
        ):
            count = sum(1 for sse in source.iter_sse() if sse.event == "metrics")
        print(
            f"replay of a finished job: {count} metrics events in "
            f"{time.perf_counter() - start:.2f} s"
        )
        for path in ("/v1/jobs/{}/plots/loss.png", "/v1/jobs/{}/plots/loss.svg"):
            url = path.format(big["id"])
            api.get(url)
            med, best = timed(lambda u=url: api.get(u).raise_for_status())
            print(
                f"GET {path.format('ID')}, 5000 epochs: median {med * 1000:.0f} ms wall "
                f"(min {best * 1000:.0f})"
            )
    driver.close()


if __name__ == "__main__":
    bench_render()
    with tempfile.TemporaryDirectory() as tmp:
        bench_stream(Path(tmp))
