"""What checkpointing costs the worker, on the benchmark network (784-100-10).

    python benchmarks/checkpoint_cost.py [--epochs 3] [--samples 60000] [--batch-size 10]

Trains the engine benchmark's network (784-100-10, sigmoid, cross-entropy, momentum SGD,
synthetic data) through the worker's own epoch recorder (``worker.recorder.EpochRecorder``)
on a real claimed job in a temporary SQLite file, twice:

- **metrics only**: one metrics row per epoch, no checkpoint (``checkpoint_seconds`` = inf);
- **checkpoint every epoch**: the same plus ``TrainState.to_bytes()`` stored with the
  epoch's row (``checkpoint_seconds`` = 0, the most frequent setting).

It prints seconds per epoch of both, the checkpoint's size, the time of its two parts
(serialising the state; the fenced database write) measured directly, and the overhead
as a share of training time. With the default ``BACKPROP_CHECKPOINT_SECONDS=10`` a job
whose epochs are shorter than 10 s checkpoints less often than every epoch, so this is
the upper bound.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from app import jobqueue
from app.config import Settings
from app.datasets import encode_array
from app.db.migrate import upgrade_head
from app.db.models import Dataset
from app.db.session import make_engine, make_sessionmaker
from app.db.types import utcnow
from app.nn import NetworkSpec, TrainingConfig, train
from worker.outage import Outage
from worker.recorder import EpochRecorder

SPEC = {"sizes": [784, 100, 10], "cost": "cross_entropy"}


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.random((n, 784))
    labels = rng.integers(0, 10, n)
    return inputs, np.eye(10)[labels]


def run(args: argparse.Namespace, every: float, workdir: Path, tag: str) -> dict[str, float]:
    settings = Settings(database_url=f"sqlite:///{workdir / f'{tag}.db'}")
    upgrade_head(settings)
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    inputs, targets = synthetic(args.samples)
    training = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": 0.5,
        "optimizer": "momentum",
        "momentum": 0.9,
        "seed": 0,
        "dtype": args.dtype,
    }
    with sessions() as session:
        dataset = Dataset(
            name="bench", n_samples=args.samples, n_features=784, n_outputs=10,
            task="classification", classes=[str(i) for i in range(10)],
            inputs=encode_array(inputs), targets=encode_array(targets), created_at=utcnow(),
        )  # fmt: skip
        session.add(dataset)
        session.commit()
        jobqueue.submit(
            session, dataset=dataset, network=SPEC, training=training,
            initial_weights=None, max_attempts=3,
        )  # fmt: skip
        lease = jobqueue.claim(session, "bench", lease_seconds=3600)
    assert lease is not None
    # One epoch more than trained: the recorder never checkpoints a job's last epoch
    # (its end follows), and here every epoch is to checkpoint.
    recorder = EpochRecorder(
        sessions, lease, outage=Outage(engine), checkpoint_seconds=every, epochs=args.epochs + 1
    )
    recorder.last_checkpoint = float("-inf") if every == 0 else time.monotonic()
    timings: dict[str, list[float]] = {"serialise": [], "write": [], "epoch": []}
    sizes: list[int] = []

    def on_epoch_end(metrics, state) -> None:  # type: ignore[no-untyped-def]
        timings["epoch"].append(metrics.seconds)
        recorder(metrics, state)

    start = time.perf_counter()
    result = train(
        NetworkSpec.from_dict(SPEC), TrainingConfig.from_dict(training), inputs, targets,
        task="classification", on_epoch_end=on_epoch_end,
    )  # fmt: skip
    total = time.perf_counter() - start
    # The two parts of one checkpoint, measured directly on the final state.
    for _ in range(5):
        t0 = time.perf_counter()
        blob = result.state.to_bytes()
        t1 = time.perf_counter()
        with sessions() as session:
            jobqueue.save_checkpoint(session, lease, blob)
        t2 = time.perf_counter()
        timings["serialise"].append(t1 - t0)
        timings["write"].append(t2 - t1)
        sizes.append(len(blob))
    engine.dispose()
    return {
        "total": total,
        "per_epoch": total / args.epochs,
        "train_epoch": statistics.median(timings["epoch"]),
        "serialise": statistics.median(timings["serialise"]),
        "write": statistics.median(timings["write"]),
        "size": sizes[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs; min kept")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"base": [], "ckpt": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):  # alternate, so load changes hit both alike
            runs["base"].append(run(args, float("inf"), Path(tmp), f"metrics-only-{i}"))
            runs["ckpt"].append(run(args, 0.0, Path(tmp), f"checkpoint-{i}"))
    base = {k: min(r[k] for r in runs["base"]) for k in runs["base"][0]}
    ckpt = {k: min(r[k] for r in runs["ckpt"]) for k in runs["ckpt"][0]}
    one = ckpt["serialise"] + ckpt["write"]
    print(
        f"784-100-10, {args.samples} samples, batch {args.batch_size}, {args.dtype}, "
        f"{args.epochs} epochs, momentum SGD"
    )
    print(f"  metrics only            {base['per_epoch']:.3f} s/epoch (wall, incl. DB rows)")
    print(f"  checkpoint every epoch  {ckpt['per_epoch']:.3f} s/epoch (wall)")
    print(f"  checkpoint size         {ckpt['size'] / 1e6:.2f} MB")
    print(
        f"  one checkpoint          {one * 1000:.1f} ms = serialise "
        f"{ckpt['serialise'] * 1000:.1f} ms + fenced DB write {ckpt['write'] * 1000:.1f} ms"
    )
    print(
        f"  direct overhead         {100 * one / base['train_epoch']:.2f} % of an epoch "
        f"({base['train_epoch']:.3f} s)"
    )
    print(
        f"  wall-clock difference   "
        f"{100 * (ckpt['per_epoch'] - base['per_epoch']) / base['per_epoch']:+.2f} % "
        "(includes run-to-run noise)"
    )


if __name__ == "__main__":
    main()
