"""A sweep survives kill -9 of the API and of every worker mid-sweep, and a restart of
everything: real processes (the crash harness) on SQLite, then PostgreSQL. Afterwards no
trial is lost, none ran twice, and the grid ran each point exactly once."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import Job, SweepTrial
from tests.helpers import BACKENDS, Deployment, deployment, fresh_database, wait_for

pytestmark = pytest.mark.e2e

LR = [0.1, 0.3, 1.0]
SIZES = [[2, 24, 1], [2, 24, 24, 1]]


def kill_api(dep: Deployment) -> None:
    """SIGKILL ``backprop serve`` and the uvicorn it started (its own session)."""
    for name, proc in dep.processes:
        if name != "api" or proc.poll() is not None:
            continue
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for pid in children:
            subprocess.run(["kill", "-9", pid], check=False)
    dep.http.close()


def sweep_state(dep: Deployment, sweep_id: str) -> dict[str, Any]:
    data: dict[str, Any] = dep.http.get(f"/v1/sweeps/{sweep_id}").json()
    return data


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sweep_survives_kill_9_of_the_api_and_every_worker(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = fresh_database(request, backend, tmp_path / "backprop.db")
    with deployment(tmp_path, url, lease_seconds=6, checkpoint_seconds=0) as dep:
        dep.start_api()
        workers = [dep.start_worker(), dep.start_worker()]
        dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
        body = {
            "name": "crash",
            "dataset_id": dataset["id"],
            "network": {"sizes": [2, 24, 24, 1], "hidden_activation": "tanh"},
            "training": {"epochs": 30, "batch_size": 8, "learning_rate": 0.3,
                         "validation_fraction": 0.2, "seed": 7},
            "space": {"training.learning_rate": {"type": "choice", "values": LR},
                      "network.sizes": {"type": "choice", "values": SIZES}},
            "sampler": {"kind": "grid", "seed": 0},
            "pruner": {"kind": "successive_halving", "min_resource": 8, "reduction_factor": 2},
            "objective": {"metric": "validation_loss"},
            "parallelism": 2,
        }  # fmt: skip
        response = dep.http.post("/v1/sweeps", json=body)
        assert response.status_code == 202, response.text
        sweep_id = response.json()["id"]

        def mid_sweep() -> list[dict[str, Any]] | None:
            trials = dep.http.get(f"/v1/sweeps/{sweep_id}/trials").json()["items"]
            ended = [t for t in trials if t["status"] not in ("queued", "running")]
            running = [t for t in trials if t["status"] == "running" and 2 <= t["epochs"] <= 6]
            return trials if ended and running else None

        wait_for(mid_sweep, timeout=120, what="a trial ended and another mid-training")
        workers[0].send_signal(signal.SIGKILL)
        kill_api(dep)
        workers[1].send_signal(signal.SIGKILL)
        for proc in workers:
            proc.wait()

        # Everything is dead; what it held is found as it was left and taken over.
        with dep.db() as conn:
            running = conn.execute(
                select(Job.id).where(Job.sweep_id == sweep_id, Job.status == "running")
            ).scalars().all()  # fmt: skip
        for job_id in running:
            dep.expire_lease(job_id)
        dep.start_api()
        dep.start_worker()
        dep.start_worker()
        done = wait_for(
            lambda: sweep_state(dep, sweep_id),
            lambda s: s["finished_at"] is not None,
            timeout=180,
            what=f"sweep {sweep_id} to finish after the restart",
            interval=0.2,
        )
        assert done["status"] == "succeeded", (done, dep.log_text()[-3000:])
        assert sum(done["counts"].values()) == 6
        assert set(done["counts"]) <= {"succeeded", "pruned"}, done["counts"]

        trials = dep.http.get(f"/v1/sweeps/{sweep_id}/trials").json()["items"]
        assert [t["number"] for t in trials] == list(range(6))
        points = sorted((t["params"]["training.learning_rate"], t["params"]["network.sizes"])
                        for t in trials)  # fmt: skip
        assert points == sorted((lr, s) for lr in LR for s in SIZES)  # each exactly once
        with dep.db() as conn:
            jobs = conn.execute(
                select(Job.id, Job.trial, Job.attempts).where(Job.sweep_id == sweep_id)
            ).all()
            recorded = conn.execute(
                select(SweepTrial.number, SweepTrial.state).where(SweepTrial.sweep_id == sweep_id)
            ).all()
        assert sorted(j.trial for j in jobs) == list(range(6))  # one job per trial, no more
        assert sorted(r.number for r in recorded) == list(range(6))
        assert {r.state for r in recorded} <= {"COMPLETE", "PRUNED"}
        resumed = {str(job_id) for job_id in running}
        assert resumed and all(j.attempts == 2 for j in jobs if j.id in resumed)
        for t in trials:
            metrics = dep.metrics(t["job_id"])
            assert [m["epoch"] for m in metrics] == list(range(1, t["epochs"] + 1))
            assert t["epochs"] == (30 if t["status"] == "succeeded" else t["pruned_epoch"])
        dep.stop()
        assert "database is locked" not in dep.log_text()
        assert "Traceback" not in dep.log_text()
