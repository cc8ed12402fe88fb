"""Many jobs on one machine, end to end with the real ``backprop serve``: wake-ups cross
from the API process to the worker processes (polls set to 30 s, so only a wake-up
explains a prompt pickup or cancel), ``/metrics`` gathers every process's samples
(parsed with prometheus-client's parser), and each worker sizes its BLAS pool to its
share of the CPUs (what threadpoolctl reports inside the worker)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import (
    BACKENDS,
    Server,
    backprop_env,
    fresh_database,
    start_server,
    wait_for,
)

pytestmark = pytest.mark.e2e

SLOW_POLLS = {
    "BACKPROP_POLL_INTERVAL": "30",
    "BACKPROP_CANCEL_POLL_SECONDS": "30",
    "BACKPROP_LEASE_SECONDS": "300",
    "BACKPROP_CHECKPOINT_SECONDS": "10",
}
XOR = {"inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "targets": [[0], [1], [1], [0]]}
NETWORK = {"sizes": [2, 8, 1]}
SHORT = {"epochs": 20, "batch_size": 4, "learning_rate": 2.0, "seed": 0}
LONG = {"epochs": 100_000, "batch_size": 1, "learning_rate": 0.5, "seed": 0}
JOBS = 6


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """``backprop serve --workers 2`` with 30 s polls, on SQLite, then PostgreSQL."""
    tmp = tmp_path_factory.mktemp("many")
    url = fresh_database(request, request.param, tmp / "backprop.db")
    running = start_server(tmp, workers=2, database_url=url, **SLOW_POLLS)
    yield running
    running.client.close()
    running.stop()


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def submit(server: Server, dataset: str, training: dict[str, Any]) -> str:
    body = {"dataset_id": dataset, "network": NETWORK, "training": training}
    response = server.client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished(server: Server, job_id: str, timeout: float = 10) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = server.client.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(done, timeout=timeout, what=f"job {job_id} to finish")  # type: ignore[no-any-return]


def test_new_jobs_and_a_cancel_wake_the_workers_at_once(server: Server) -> None:
    dataset = server.client.post("/v1/datasets", json={"name": "xor", **XOR}).json()["id"]
    time.sleep(1.0)  # both workers are in their 30 s sleep now
    for _ in range(JOBS):
        job = finished(server, submit(server, dataset, SHORT))
        assert job["status"] == "succeeded", job
        assert ts(job["started_at"]) - ts(job["created_at"]) < 5, job
        time.sleep(0.2)
    job_id = submit(server, dataset, LONG)

    def running() -> bool:
        job = server.client.get(f"/v1/jobs/{job_id}").json()
        return job["status"] == "running" and job["progress"]["epoch"] >= 1

    wait_for(running, timeout=10, what="the long job to run")
    time.sleep(0.5)  # its guard has looked once; the next look is 30 s away
    asked = time.time()
    assert server.client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    job = finished(server, job_id, timeout=10)
    assert job["status"] == "cancelled"
    assert ts(job["finished_at"]) - asked < 5


def test_metrics_gather_every_process_and_match_the_jobs_run(server: Server) -> None:
    """After the test above: JOBS succeeded, one cancelled, by two worker processes."""
    response = server.client.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "backprop_jobs",
        "backprop_job_pickup_seconds",
        "backprop_epoch_seconds",
        "backprop_workers_busy",
        "http_requests",
        "http_request_duration_seconds",
    ):
        assert name in families, name  # fmt: skip

    def value(family: str, sample: str, **labels: str) -> float:
        return sum(
            s.value
            for s in families[family].samples
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
        )

    jobs = server.client.get("/v1/jobs", params={"limit": 100}).json()["items"]
    cancelled = next(j for j in jobs if j["status"] == "cancelled")
    epochs = JOBS * SHORT["epochs"] + cancelled["progress"]["epoch"]
    assert value("backprop_jobs", "backprop_jobs", status="succeeded") == JOBS
    assert value("backprop_jobs", "backprop_jobs", status="cancelled") == 1
    assert value("backprop_jobs", "backprop_jobs", status="queued") == 0
    assert value("backprop_job_pickup_seconds", "backprop_job_pickup_seconds_count") == JOBS + 1
    assert value("backprop_epoch_seconds", "backprop_epoch_seconds_count") == epochs
    assert value("backprop_workers_busy", "backprop_workers_busy") == 0
    finished_total = "backprop_jobs_finished_total"
    assert value("backprop_jobs_finished", finished_total, status="succeeded") == JOBS
    assert value("backprop_jobs_finished", finished_total, status="cancelled") == 1
    posts = value("http_requests", "http_requests_total", handler="/v1/jobs", method="POST")
    assert posts == JOBS + 1
    durations = value(
        "http_request_duration_seconds",
        "http_request_duration_seconds_count",
        handler="/v1/jobs",
        method="POST",
    )
    assert durations == JOBS + 1


# -- the CPU budget -----------------------------------------------------------------------

BUDGET = re.compile(
    r"CPU budget: (\d+) BLAS thread\(s\) per worker \((\d+) CPUs, (\d+) worker\(s\) on "
    r"this host\); threadpoolctl: (.*)"
)


def budgets(log: Path, count: int) -> list[tuple[int, int, int, str]]:
    """The start-up reports of ``count`` workers in ``log``."""

    def found() -> list[tuple[int, int, int, str]]:
        text = log.read_text(errors="replace")
        return [(int(a), int(b), int(c), d.strip()) for a, b, c, d in BUDGET.findall(text)]

    return wait_for(found, lambda r: len(r) >= count, timeout=60,  # type: ignore[no-any-return]
                    what=f"{count} worker(s) to report their CPU budget")  # fmt: skip


@pytest.mark.parametrize(
    ("workers", "count", "threads"), [("1", 1, 4), ("2", 2, 2), ("auto", 4, 1)]
)
def test_serve_gives_each_worker_its_share_of_the_cpus(
    tmp_path: Path, workers: str, count: int, threads: int
) -> None:
    """BACKPROP_CPUS=4: one worker gets 4 BLAS threads, two get 2 each, auto starts 4
    workers of 1 thread: never more threads than CPUs."""
    server = start_server(tmp_path, workers=workers, BACKPROP_CPUS="4", BACKPROP_LOG_LEVEL="info")
    try:
        reports = budgets(server.log, count)
    finally:
        server.client.close()
        server.stop()
    assert len(reports) == count
    for report in reports:
        assert report == (threads, 4, count, f"openblas={threads}"), report


@pytest.mark.parametrize(("cpus", "threads"), [("3", 3), (None, len(os.sched_getaffinity(0)))])
def test_a_lone_worker_uses_all_its_cpus(tmp_path: Path, cpus: str | None, threads: int) -> None:
    env = backprop_env(tmp_path / "backprop.db", BACKPROP_LOG_LEVEL="info")
    if cpus is not None:
        env["BACKPROP_CPUS"] = cpus
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        (report,) = budgets(log, 1)
        wait_for(lambda: " started" in log.read_text(), timeout=60, what="the worker loop")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    assert report == (threads, threads, 1, f"openblas={threads}")


def test_serve_refuses_a_worker_count_that_is_not_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("backprop")), "serve", "--workers", "many"],
        env=backprop_env(tmp_path / "backprop.db"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "expected a number of workers or 'auto', got 'many'" in result.stderr
