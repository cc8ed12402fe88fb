"""When does a replay match? Replays of the same jobs by workers in other environments.

    python benchmarks/replay_check.py [--epochs 5] [--samples 3000]

Trains a 64-128-10 softmax network (Adam, batch 64, 10% validation) on synthetic data in
float32 and float64 with a real ``python -m worker`` process on a temporary SQLite file;
the float64 original is SIGKILLed mid-run and resumed by another worker. Then replays
each original (``POST /v1/jobs/{id}/replay``) with one worker per scenario:

- same environment (the workers the originals had);
- the replay itself SIGKILLed mid-run and resumed;
- ``OPENBLAS_NUM_THREADS=1`` (BLAS on one thread instead of all cores);
- ``OPENBLAS_CORETYPE=Haswell`` (another OpenBLAS kernel on the same CPU);
- ``BACKPROP_ENGINE_BLAS=numpy`` (the training step through np.matmul, not direct gemm).

Prints each replay's verdict: matches, max |diff| over the weights, the first difference
and the receipt fields that differ.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from app.api.main import create_app
from app.config import Settings
from app.db.migrate import upgrade_head

SCENARIOS: list[tuple[str, dict[str, str], bool]] = [
    ("same environment", {}, False),
    ("replay killed -9, resumed", {}, True),
    ("OPENBLAS_NUM_THREADS=1", {"OPENBLAS_NUM_THREADS": "1"}, False),
    ("OPENBLAS_CORETYPE=Haswell", {"OPENBLAS_CORETYPE": "Haswell"}, False),
    ("BACKPROP_ENGINE_BLAS=numpy", {"BACKPROP_ENGINE_BLAS": "numpy"}, False),
]


class Lab:
    """The API in-process and worker processes on one SQLite file."""

    def __init__(self, workdir: Path) -> None:
        self.url = f"sqlite:///{workdir / 'replay.db'}"
        settings = Settings(database_url=self.url)
        upgrade_head(settings)
        self.client = TestClient(create_app(settings))
        self.client.__enter__()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")},
            "BACKPROP_DATABASE_URL": self.url,
            "BACKPROP_POLL_INTERVAL": "0.05",
            "BACKPROP_CHECKPOINT_SECONDS": "0",
            "BACKPROP_LOG_LEVEL": "warning",
        }

    def job(self, job_id: str) -> dict[str, Any]:
        return self.client.get(f"/v1/jobs/{job_id}").json()  # type: ignore[no-any-return]

    def worker(self, extra: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "worker"], env={**self.env, **extra})

    def run(self, job_id: str, extra: dict[str, str], kill: bool) -> dict[str, Any]:
        """Run ``job_id`` with a worker in ``extra``'s environment; with ``kill``, SIGKILL
        it mid-run and let a second worker (same environment) resume the job."""
        proc = self.worker(extra)
        if kill:
            epochs = self.job(job_id)["progress"]["epochs"]
            self.wait(job_id, lambda j: j["status"] == "running" and j["progress"]["epoch"] >= 2)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert self.job(job_id)["progress"]["epoch"] < epochs, "killed too late"
            self.expire(job_id)
            proc = self.worker(extra)
        done = self.wait(job_id, lambda j: j["status"] in ("succeeded", "failed", "cancelled"))
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        return done

    def expire(self, job_id: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE jobs SET lease_expires_at = '2000-01-01 00:00:00' WHERE id = :id"),
                {"id": job_id},
            )
        engine.dispose()

    def wait(self, job_id: str, done: Any, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if done(job):
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=3000)
    args = parser.parse_args()
    lab = Lab(Path(tempfile.mkdtemp(prefix="replay-check-")))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, 64))
    labels = (x[:, :10].argmax(axis=1) + (rng.random(args.samples) < 0.2)) % 10
    data = lab.client.post(
        "/v1/datasets", json={"name": "synthetic", "inputs": x.tolist(), "labels": labels.tolist()}
    ).json()
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'dtype':8} {'original':27} {'replay':27} {'matches':>7} {'max |diff|':>10}  "
          "differing receipt fields / first difference")  # fmt: skip
    for dtype in ("float32", "float64"):
        body = {
            "dataset_id": data["id"],
            "network": {
                "sizes": [64, 128, 10],
                "hidden_activation": "relu",
                "output_activation": "softmax",
                "cost": "log_likelihood",
                "init": "he",
            },
            "training": {
                "epochs": args.epochs,
                "batch_size": 64,
                "learning_rate": 0.001,
                "optimizer": "adam",
                "validation_fraction": 0.1,
                "seed": 1,
                "dtype": dtype,
            },
        }
        original = lab.client.post("/v1/jobs", json=body).json()["id"]
        killed = dtype == "float64"
        done = lab.run(original, {}, kill=killed)
        assert done["status"] == "succeeded", done
        how = f"killed -9, resumed ({done['attempts']} att.)" if killed else "uninterrupted"
        for name, extra, kill in SCENARIOS:
            replay = lab.client.post(f"/v1/jobs/{original}/replay").json()["id"]
            finished = lab.run(replay, extra, kill)
            verdict = finished["replay"]
            note = ", ".join(verdict["differences"]) or "-"
            if verdict["first_difference"]:
                note += f" / {verdict['first_difference']}"
            print(
                f"{dtype:8} {how:27} {name:27} {str(verdict['matches']):>7} "
                f"{verdict['max_abs_diff']:10.3g}  {note}"
            )
    lab.client.__exit__(None, None, None)


if __name__ == "__main__":
    main()
