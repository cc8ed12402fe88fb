"""Database faults under a running job, measured through REST (the fault tests and
``benchmarks/db_faults.py`` run the same scenarios).

:func:`ride` starts a job long enough to outlast the fault, waits until it trains,
injects the fault (``fault.begin()``), watches what the API answers while it lasts,
ends it (``fault.end()``) and measures how long the job takes to record its next epoch
once the database is back. It then waits for the job to succeed and reads its metrics:
each epoch must be there exactly once, written by the first attempt.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.crash import Deployment
from tests.helpers.postgres import Cluster
from tests.helpers.servers import wait_for
from tests.helpers.volumes import fill

NETWORK = {"sizes": [2, 16, 16, 1], "hidden_activation": "tanh", "cost": "cross_entropy"}
TRAINING: dict[str, Any] = {
    "batch_size": 8, "learning_rate": 0.3, "validation_fraction": 0.2, "seed": 11,
}  # fmt: skip
LEAD_SECONDS = 1.5  # the job trains this long before the fault
TAIL_SECONDS = 4.0  # … and about this long after it


@dataclass
class Fault:
    """A named fault: ``begin`` breaks the database, ``end`` brings it back; both return
    when done (``end``: once the database accepts connections again)."""

    name: str
    begin: Callable[[], None]
    end: Callable[[], None]
    hold: float  # seconds between the two


def restart(cluster: Cluster) -> Fault:
    return Fault("PostgreSQL restart (pg_ctl restart -m fast)", lambda: None, cluster.restart, 0)


def stop_start(cluster: Cluster, seconds: float) -> Fault:
    name = f"PostgreSQL stopped for {seconds:g} s"
    return Fault(name, cluster.stop_server, cluster.start_server, seconds)


def disk_full(volume: Path, seconds: float) -> Fault:
    filler: list[Path] = []
    name = f"SQLite volume full for {seconds:g} s"
    return Fault(name, lambda: filler.append(fill(volume)), lambda: filler.pop().unlink(), seconds)


@dataclass
class Report:
    fault: str
    epochs: int  # the job's length
    at_fault: int  # the epoch stored when the fault began
    back_to_epoch: float  # seconds from the database being back to the next epoch stored
    during: Counter[str] = field(default_factory=Counter)  # "GET /health 503": count
    attempts: int = 0
    status: str = ""
    stored: list[int] = field(default_factory=list)  # the epochs of the metrics rows

    @property
    def epochs_once(self) -> bool:
        return self.stored == list(range(1, self.epochs + 1))


def seconds_per_epoch(dep: Deployment, dataset_id: str) -> float:
    """A short job of the same shape, timed by its own metrics rows."""
    job = dep.submit(dataset_id, NETWORK, {**TRAINING, "epochs": 20})
    dep.wait_status(job["id"], "succeeded", timeout=120)
    rows = dep.metrics(job["id"])
    return max(1e-3, sum(r["seconds"] for r in rows) / len(rows))


def _answers(http: httpx.Client, job_id: str) -> list[str]:
    found = []
    for path, shown in (("/health", "/health"), (f"/v1/jobs/{job_id}", "/v1/jobs/{id}")):
        try:
            found.append(f"GET {shown} {http.get(path, timeout=5).status_code}")
        except httpx.TransportError as exc:
            found.append(f"GET {shown} {type(exc).__name__}")
    return found


def _epoch(http: httpx.Client, job_id: str) -> int | None:
    try:
        response = http.get(f"/v1/jobs/{job_id}", timeout=5)
    except httpx.TransportError:
        return None
    return int(response.json()["progress"]["epoch"]) if response.status_code == 200 else None


def ride(dep: Deployment, fault: Fault) -> Report:
    """Run ``fault`` under a training job of ``dep`` (the API and a worker running)."""
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    per_epoch = seconds_per_epoch(dep, dataset["id"])
    total = LEAD_SECONDS + fault.hold + TAIL_SECONDS
    epochs = max(30, math.ceil(total / per_epoch))
    job = dep.submit(dataset["id"], NETWORK, {**TRAINING, "epochs": epochs})
    job_id = job["id"]
    lead = max(3, int(LEAD_SECONDS / per_epoch))
    wait_for(lambda: _epoch(dep.http, job_id) or 0, lambda e: e >= lead, timeout=120,
             what=f"job {job_id} to train {lead} epochs")  # fmt: skip
    at_fault = _epoch(dep.http, job_id) or 0
    fault.begin()
    during: Counter[str] = Counter()
    deadline = time.monotonic() + fault.hold
    while time.monotonic() < deadline:
        during.update(_answers(dep.http, job_id))
        time.sleep(0.2)
    fault.end()
    back = time.monotonic()
    seen = wait_for(
        lambda: _epoch(dep.http, job_id),
        lambda e: e is not None and e > at_fault,
        timeout=120,
        what=f"job {job_id} to store an epoch after {at_fault} once the database is back",
        interval=0.02,
    )
    assert seen is not None
    back_to_epoch = time.monotonic() - back
    done = dep.wait_status(job_id, "succeeded", "failed", "cancelled", timeout=300)
    stored = [int(r["epoch"]) for r in dep.metrics(job_id)]
    return Report(
        fault=fault.name,
        epochs=epochs,
        at_fault=at_fault,
        back_to_epoch=back_to_epoch,
        during=during,
        attempts=int(done["attempts"]),
        status=done["status"],
        stored=stored,
    )
