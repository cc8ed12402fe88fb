"""Sweep benchmark: the 27-point digits grid through the real service, in one run.

    python benchmarks/sweeps.py                 # 2 workers, a temporary SQLite file
    python benchmarks/sweeps.py --database-url postgresql+psycopg://…

Starts ``backprop serve --workers N`` (default 2), uploads scikit-learn's digits (inputs
/16, labels) through ``POST /v1/datasets/upload`` and runs, over HTTP:

- the grid learning_rate ∈ {0.05, 0.5, 3.0} × hidden ∈ {10, 30, 100} × l2 ∈ {0, 1, 10}
  (64-h-10 sigmoid cross-entropy SGD, 30 epochs, batch 10, validation_fraction 0.2,
  seed 0) as a sweep with ``pruner: none``, parallelism 2;
- the same 27 jobs submitted directly (``POST /v1/jobs``): their best validation
  accuracy is the grid's true best, and the wall time the overhead's reference;
- the grid with ``successive_halving`` (min_resource 3, and Optuna's defaults) and with
  ``hyperband``, parallelism 2;
- for scale, Optuna's own SuccessiveHalvingPruner driving the engine in-process with
  ``study.optimize``, one trial at a time (min_resource 3, and defaults).

It prints, per run: trials per status, the best validation accuracy and its distance to
the grid's best, the epochs trained (sum of ``epochs`` over trials) and their share of
the full grid's 810, the wall time; then the targets of docs/sweeps.md with PASS/FAIL.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

LRS = [0.05, 0.5, 3.0]
HIDDEN = [10, 30, 100]
L2S = [0, 1, 10]
EPOCHS = 30
NETWORK = {"sizes": [64, 30, 10], "hidden_activation": "sigmoid",
           "output_activation": "sigmoid", "cost": "cross_entropy"}  # fmt: skip
TRAINING = {"epochs": EPOCHS, "batch_size": 10, "learning_rate": 0.5, "l2": 0.0,
            "validation_fraction": 0.2, "seed": 0}  # fmt: skip
SPACE = {
    "training.learning_rate": {"type": "choice", "values": LRS},
    "network.sizes": {"type": "choice", "values": [[64, h, 10] for h in HIDDEN]},
    "training.l2": {"type": "choice", "values": L2S},
}
FULL_EPOCHS = len(LRS) * len(HIDDEN) * len(L2S) * EPOCHS


@dataclass
class Run:
    name: str
    statuses: dict[str, int]
    best: float
    epochs: int
    seconds: float | None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def digits_npz() -> bytes:
    from sklearn.datasets import load_digits

    digits = load_digits()
    buffer = io.BytesIO()
    np.savez(buffer, inputs=digits.data / 16.0, labels=digits.target)
    return buffer.getvalue()


def wait(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


def run_sweep(client: httpx.Client, dataset_id: str, name: str, pruner: dict) -> Run:
    body = {"name": name, "dataset_id": dataset_id, "network": NETWORK, "training": TRAINING,
            "space": SPACE, "sampler": {"kind": "grid", "seed": 0}, "pruner": pruner,
            "objective": {"metric": "validation_accuracy", "direction": "maximize"},
            "parallelism": 2}  # fmt: skip
    start = time.perf_counter()
    response = client.post("/v1/sweeps", json=body)
    response.raise_for_status()
    sweep_id = response.json()["id"]

    def done() -> dict | None:
        sweep = client.get(f"/v1/sweeps/{sweep_id}").json()
        return sweep if sweep["finished_at"] is not None else None

    sweep = wait(done, 1800, f"sweep {name}", interval=0.1)
    seconds = time.perf_counter() - start
    trials = client.get(f"/v1/sweeps/{sweep_id}/trials").json()["items"]
    best = sweep["best"]["value"] if sweep["best"] else float("nan")
    return Run(name, sweep["counts"], best, sum(t["epochs"] for t in trials), seconds)


def run_direct(client: httpx.Client, dataset_id: str) -> tuple[Run, dict[tuple, float]]:
    specs = [(lr, h, l2) for lr in LRS for h in HIDDEN for l2 in L2S]
    start = time.perf_counter()
    ids = {}
    for lr, h, l2 in specs:
        body = {"dataset_id": dataset_id, "network": {**NETWORK, "sizes": [64, h, 10]},
                "training": {**TRAINING, "learning_rate": lr, "l2": l2}}  # fmt: skip
        response = client.post("/v1/jobs", json=body)
        response.raise_for_status()
        ids[(lr, h, l2)] = response.json()["id"]
    finals = {"succeeded", "failed", "cancelled", "pruned"}

    def all_done() -> list[dict] | None:
        listed = client.get("/v1/jobs", params={"limit": 1000}).json()["items"]
        by_id = {j["id"]: j for j in listed}
        jobs = [by_id[job_id] for job_id in ids.values()]
        return jobs if all(j["status"] in finals for j in jobs) else None

    jobs = wait(all_done, 1800, "the direct jobs", interval=0.1)
    seconds = time.perf_counter() - start
    values = {
        key: job["final_metrics"]["validation_accuracy"] for key, job in zip(ids, jobs, strict=True)
    }
    statuses: dict[str, int] = {}
    for job in jobs:
        statuses[job["status"]] = statuses.get(job["status"], 0) + 1
    run = Run("direct: the same 27 jobs", statuses, max(values.values()), FULL_EPOCHS, seconds)
    return run, values


def run_in_process(x: np.ndarray, labels: np.ndarray, name: str, pruner_options: dict) -> Run:
    """Optuna's own optimize loop with its SuccessiveHalvingPruner on the engine."""
    import optuna

    from app.nn import NetworkSpec, TrainingConfig, train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    y = np.eye(10)[labels]
    epochs_run: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_categorical("lr", LRS)
        h = trial.suggest_categorical("h", HIDDEN)
        l2 = trial.suggest_categorical("l2", L2S)
        last = {"epoch": 0, "value": 0.0}

        def report(m: Any, _state: Any) -> None:
            last.update(epoch=m.epoch, value=m.validation_accuracy)
            trial.report(m.validation_accuracy, m.epoch)
            if m.epoch < EPOCHS and trial.should_prune():
                raise optuna.TrialPruned()

        try:
            train(NetworkSpec(sizes=[64, h, 10], cost="cross_entropy"),
                  TrainingConfig(**{**TRAINING, "learning_rate": lr, "l2": float(l2)}),
                  x, y, task="classification", on_epoch_end=report)  # fmt: skip
        finally:
            epochs_run.append(last["epoch"])
        return last["value"]

    grid = {"lr": LRS, "h": HIDDEN, "l2": L2S}
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.GridSampler(grid, seed=0),
        pruner=optuna.pruners.SuccessiveHalvingPruner(**pruner_options),
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=27)
    seconds = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for t in study.trials:
        statuses[t.state.name.lower()] = statuses.get(t.state.name.lower(), 0) + 1
    return Run(name, statuses, study.best_value, sum(epochs_run), seconds)


def start_serve(workdir: Path, url: str, workers: int) -> tuple[subprocess.Popen, httpx.Client]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    env.update(BACKPROP_DATABASE_URL=url, BACKPROP_LOG_LEVEL="warning")
    backprop = str(Path(sys.executable).with_name("backprop"))
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(
        [backprop, "serve", "--workers", str(workers), "--port", str(port)],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"backprop serve exited: {(workdir / 'serve.log').read_text()}")
        try:
            return client.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    wait(healthy, 60, "backprop serve")
    return proc, client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--skip-in-process", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="backprop-sweeps-"))
    url = args.database_url or f"sqlite:///{workdir / 'backprop.db'}"
    proc, client = start_serve(workdir, url, args.workers)
    runs: list[Run] = []
    try:
        npz = digits_npz()
        files = {"file": ("digits.npz", npz, "application/octet-stream")}
        upload = client.post("/v1/datasets/upload", data={"name": "digits"}, files=files)
        upload.raise_for_status()
        dataset_id = upload.json()["id"]
        # The overhead pair twice, in both orders (direct, sweep, sweep, direct): the
        # machine's load drifts; the ratio compares the sums.
        direct, values = run_direct(client, dataset_id)
        full = run_sweep(client, dataset_id, "sweep, pruner none", {"kind": "none"})
        full2 = run_sweep(client, dataset_id, "sweep, pruner none (again)", {"kind": "none"})
        direct2, values2 = run_direct(client, dataset_id)
        assert values2 == values, "the same jobs gave other results"
        runs += [full, direct, full2, direct2]
        sha = {"kind": "successive_halving", "min_resource": 3}
        runs.append(
            run_sweep(client, dataset_id, "sweep, successive_halving (min_resource 3)", sha)
        )
        runs.append(run_sweep(client, dataset_id, "sweep, successive_halving (defaults)",
                              {"kind": "successive_halving"}))  # fmt: skip
        runs.append(run_sweep(client, dataset_id, "sweep, hyperband (defaults)",
                              {"kind": "hyperband"}))  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        client.close()
    if not args.skip_in_process:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = digits.data / 16.0
        runs.append(run_in_process(x, digits.target, "Optuna in-process SHA (min_resource 3)",
                                   {"min_resource": 3}))  # fmt: skip
        runs.append(run_in_process(x, digits.target, "Optuna in-process SHA (defaults)", {}))

    grid_best = max(values.values())
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    backend = url.split(":", 1)[0]
    print(f"Sweeps on scikit-learn's digits (1797 x 64, inputs /16, validation 20%), "
          f"64-h-10 sigmoid cross-entropy SGD, {EPOCHS} epochs, batch 10; grid lr {LRS} x "
          f"h {HIDDEN} x l2 {L2S}; {args.workers} workers on {backend}; "
          f"load average {load}")  # fmt: skip
    header = f"{'run':46} {'trials':>22} {'best val acc':>12} {'vs grid':>9} {'epochs':>7} {'share':>6} {'wall s':>7}"  # noqa: E501
    print(header)
    print("-" * len(header))
    for run in runs:
        counts = " ".join(f"{n} {s}" for s, n in sorted(run.statuses.items()))
        gap = (run.best - grid_best) * 100
        wall = f"{run.seconds:7.1f}" if run.seconds is not None else "      -"
        print(f"{run.name:46} {counts:>22} {run.best:12.4f} {gap:+8.2f}pp {run.epochs:7d} "
              f"{run.epochs / FULL_EPOCHS:6.1%} {wall}")  # fmt: skip
    full, direct, full2, direct2 = runs[:4]
    sha, sha_defaults = runs[4], runs[5]
    ratio = sum(r.seconds or 0 for r in (full, full2)) / sum(
        r.seconds or 0 for r in (direct, direct2)
    )
    checks = [
        ("pruner none: all 27 trials succeed", full.statuses == {"succeeded": 27}),
        ("pruner none: best = the grid's true best (the 27 direct jobs)",
         full.best == full2.best == grid_best),
        ("successive_halving (min_resource 3): within 0.5 pp of the grid's best",
         grid_best - sha.best <= 0.005 + 1e-12),
        ("successive_halving (min_resource 3): <= 30% of the grid's epochs",
         sha.epochs <= 0.30 * FULL_EPOCHS),
        ("successive_halving (defaults): within 0.5 pp of the grid's best",
         grid_best - sha_defaults.best <= 0.005 + 1e-12),
        ("successive_halving (defaults): <= 30% of the grid's epochs",
         sha_defaults.epochs <= 0.30 * FULL_EPOCHS),
        (f"overhead: sweep / direct wall time (sum of 2 each) = {ratio:.3f} <= 1.15",
         ratio <= 1.15),
    ]  # fmt: skip
    print()
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
