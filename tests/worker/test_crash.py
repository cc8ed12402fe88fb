"""Jobs survive crashes, restarts and poison: real ``python -m worker`` processes.

Each test runs the API (``backprop serve --workers 0``) and workers as subprocesses on a
temporary database (SQLite, then PostgreSQL). A dead worker's lease is aged by writing
the database, so no test waits out a lease.
"""

from __future__ import annotations

import io
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.helpers import (
    BACKENDS,
    BACKPROP,
    Deployment,
    deployment,
    free_port,
    fresh_database,
    wait_for,
)

pytestmark = pytest.mark.e2e

POISON_WORKER = Path(__file__).resolve().parent / "poison_worker.py"


@pytest.fixture(scope="module", params=BACKENDS)
def module_deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """One API process for the module (max_attempts=2 is read by the API at submit), on
    SQLite, then on PostgreSQL."""
    tmp = tmp_path_factory.mktemp("reliability")
    url = fresh_database(request, request.param, tmp / "backprop.db")
    with deployment(tmp, url, max_attempts=2) as dep:
        dep.start_api()
        yield dep
    assert "database is locked" not in dep.log_text()  # after every process has exited


@pytest.fixture
def dep(module_deployment: Deployment) -> Iterator[Deployment]:
    """The module's API; the test's workers are stopped and its jobs ended afterwards."""
    yield module_deployment
    module_deployment.finish_test()


# Long enough (~1-2 s) to be killed mid-training, short enough for the suite.
NETWORK = {"sizes": [2, 24, 24, 1], "hidden_activation": "tanh", "cost": "cross_entropy"}
TRAINING: dict[str, Any] = {
    "epochs": 40,
    "batch_size": 8,
    "learning_rate": 0.3,
    "optimizer": "momentum",
    "momentum": 0.9,
    "validation_fraction": 0.2,
    "seed": 7,
}


EVERY_EPOCH: dict[str, str] = {"BACKPROP_CHECKPOINT_SECONDS": "0"}


def arrays(npz: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(npz), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def assert_bit_identical(a: bytes, b: bytes) -> None:
    left, right = arrays(a), arrays(b)
    assert left.keys() == right.keys()
    for name in left:
        assert left[name].dtype == right[name].dtype, name
        assert left[name].tobytes() == right[name].tobytes(), f"{name} differs"


def curve(metrics: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Everything of a metrics row that must not depend on a crash (not ``seconds``)."""
    keys = ("epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy")
    return [tuple(row[k] for k in keys) for row in metrics]


SNAPSHOT_EVERY = 4  # the disturbed jobs keep weight snapshots too


def start_job_pair(dep: Deployment, epochs: int = TRAINING["epochs"]) -> tuple[str, str]:
    """The job to disturb and an identical reference, queued in that order."""
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    training = {**TRAINING, "epochs": epochs, "snapshot_every": SNAPSHOT_EVERY}
    disturbed = dep.submit(dataset["id"], NETWORK, training)["id"]
    reference = dep.submit(dataset["id"], NETWORK, training)["id"]
    return disturbed, reference


def wait_running_at(dep: Deployment, job_id: str, epoch: int) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        job = dep.job(job_id)
        assert job["status"] in ("queued", "running"), job
        return job if job["status"] == "running" and job["progress"]["epoch"] >= epoch else None

    what = f"job {job_id} to run past epoch {epoch}"
    return wait_for(reached, timeout=60, what=what)  # type: ignore[no-any-return]


def assert_same_as_reference(
    dep: Deployment, job_id: str, reference: str, epochs: int = TRAINING["epochs"]
) -> None:
    for job in (job_id, reference):
        done = dep.wait_status(job, "succeeded", "failed", "cancelled")
        assert done["status"] == "succeeded", done
    assert_bit_identical(dep.weights_npz(job_id), dep.weights_npz(reference))
    for epoch in range(SNAPSHOT_EVERY, TRAINING["epochs"] + 1, SNAPSHOT_EVERY):
        assert_bit_identical(dep.weights_npz(job_id, epoch), dep.weights_npz(reference, epoch))
    resumed, uninterrupted = dep.metrics(job_id), dep.metrics(reference)
    assert [row["epoch"] for row in resumed] == list(range(1, epochs + 1))
    assert curve(resumed) == curve(uninterrupted)


def test_sigkilled_worker_job_resumes_elsewhere_bit_identical(dep: Deployment) -> None:
    job_id, reference = start_job_pair(dep)
    first = dep.start_worker(env=EVERY_EPOCH)
    wait_running_at(dep, job_id, 3)
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    killed_at = dep.row(job_id)
    assert killed_at.status == "running"  # nobody knows yet: the lease is still valid
    assert killed_at.checkpoint is not None

    dep.expire_lease(job_id)
    dep.start_worker(env=EVERY_EPOCH)
    assert_same_as_reference(dep, job_id, reference)
    assert dep.job(job_id)["attempts"] == 2
    assert dep.job(reference)["attempts"] == 1
    assert "resuming at epoch" in dep.log_text()


def test_stalled_worker_that_wakes_up_cannot_overwrite_the_new_owner(dep: Deployment) -> None:
    """SIGSTOP (a long GC pause, a frozen VM): the lease expires, another worker takes the
    job over and finishes it; the first one wakes up, finds its lease gone and writes
    nothing (every write is fenced by the lease token)."""
    job_id, reference = start_job_pair(dep)
    stalled = dep.start_worker(env=EVERY_EPOCH)
    wait_running_at(dep, job_id, 2)
    dep.freeze(stalled, job_id)
    try:
        dep.expire_lease(job_id)
        dep.start_worker(env=EVERY_EPOCH)
        dep.wait_status(job_id, "succeeded", "failed")
    finally:
        stalled.send_signal(signal.SIGCONT)
    what = "the woken worker to see its lease lost"
    wait_for(lambda: "lease lost" in dep.log_text(), timeout=30, what=what)
    assert stalled.poll() is None  # it carries on as a healthy worker
    assert_same_as_reference(dep, job_id, reference)
    assert dep.job(job_id)["attempts"] == 2


def test_sigterm_hands_the_job_back_and_exits_zero(dep: Deployment) -> None:
    # Without a checkpoint every epoch, epochs share commits and 40 of them take ~0.2 s:
    # ten times as many keep the job running long enough to be stopped mid-training.
    job_id, reference = start_job_pair(dep, epochs=400)
    worker = dep.start_worker(
        env={"BACKPROP_CHECKPOINT_SECONDS": "3600"}
    )  # only the hand-back saves
    wait_running_at(dep, job_id, 2)
    sent = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert time.monotonic() - sent < 5
    row = dep.row(job_id)
    assert row.status == "queued"
    assert row.lease_token is None
    assert row.checkpoint is not None  # saved at the batch boundary, mid-epoch
    assert dep.job(reference)["status"] == "queued"  # it stopped claiming

    dep.start_worker()
    assert_same_as_reference(dep, job_id, reference, epochs=400)
    assert dep.job(job_id)["attempts"] == 1  # a graceful hand-back is not a lost worker


def test_poison_job_fails_after_max_attempts(dep: Deployment) -> None:
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    job_id = dep.submit(dataset["id"], NETWORK, {**TRAINING, "epochs": 10_000})["id"]
    for attempt in (1, 2):
        poisoned = dep.start_worker(POISON_WORKER, env=EVERY_EPOCH)
        assert poisoned.wait(timeout=60) == 137, dep.log_text()
        row = dep.row(job_id)
        assert (row.status, row.attempts) == ("running", attempt)
        dep.expire_lease(job_id)

    dep.start_worker()  # a healthy worker finds the stalled lease and gives up on it
    job = dep.wait_status(job_id, "failed", "succeeded", "cancelled", timeout=30)
    assert job["status"] == "failed"
    assert job["error"] == "worker lost 2 times"
    assert job["attempts"] == 2
    kept = dep.metrics(job_id)
    assert [row["epoch"] for row in kept] == list(range(1, len(kept) + 1))


def test_divergence_fails_with_the_epoch_and_keeps_the_curve(dep: Deployment) -> None:
    dataset = dep.generate("sine", n_samples=64, noise=0.0, seed=0)
    network = {
        "sizes": [1, 1],
        "output_activation": "identity",
        "cost": "quadratic",
    }
    # One full-batch step per epoch with a step size far past 2/curvature: the error
    # grows geometrically and overflows after a few dozen epochs, not at the first.
    training = {"epochs": 1000, "batch_size": 64, "learning_rate": 4000.0, "shuffle": False}
    job_id = dep.submit(dataset["id"], network, training)["id"]
    dep.start_worker()
    job = dep.wait_status(job_id, "failed", "succeeded", timeout=60)
    assert job["status"] == "failed", job
    assert job["error"].startswith("training diverged at epoch ")
    assert "learning_rate" in job["error"]
    epoch = int(job["error"].removeprefix("training diverged at epoch ").split(":")[0])
    kept = dep.metrics(job_id)
    assert epoch > 1
    assert [row["epoch"] for row in kept] == list(range(1, epoch))
    assert all(np.isfinite(row["train_loss"]) for row in kept)


def test_max_runtime_fails_the_job_with_that_reason(dep: Deployment) -> None:
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    training = {**TRAINING, "epochs": 100_000, "max_runtime_seconds": 1.0}
    job_id = dep.submit(dataset["id"], NETWORK, training)["id"]
    dep.start_worker()
    job = dep.wait_status(job_id, "failed", "succeeded", timeout=30)
    assert job["status"] == "failed", job
    assert job["error"].startswith("exceeded max_runtime_seconds=1.0 ")
    kept = dep.metrics(job_id)
    assert 0 < len(kept) < 100_000
    assert [row["epoch"] for row in kept] == list(range(1, len(kept) + 1))


def test_serve_stops_all_its_processes_on_sigterm(dep: Deployment) -> None:
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    job_id = dep.submit(dataset["id"], NETWORK, {**TRAINING, "epochs": 100_000})["id"]
    argv = [BACKPROP, "serve", "--workers", "2", "--port", str(free_port())]
    serve = dep.spawn("serve", argv)
    wait_running_at(dep, job_id, 1)
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=15) == 0
    assert dep.row(job_id).status == "queued"
    children = subprocess.run(
        ["pgrep", "-P", str(serve.pid)], capture_output=True, text=True, check=False
    )
    assert children.stdout == ""


def test_concurrent_retries_with_one_key_create_one_job(dep: Deployment) -> None:
    """Ten clients send the same keyed submit at once to the real server: one job is
    created; every answer is that job (202, replayed) or 409 "still being processed"."""
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    body = {"dataset_id": dataset["id"], "network": NETWORK, "training": TRAINING}
    headers = {"Idempotency-Key": f"burst-{dataset['id']}"}

    def post(_: int) -> tuple[int, str | None]:
        with httpx.Client(base_url=str(dep.http.base_url), timeout=30) as client:
            response = client.post("/v1/jobs", json=body, headers=headers)
        return response.status_code, response.json().get("id")

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(post, range(10)))
    created = {job_id for status, job_id in answers if status == 202}
    assert len(created) == 1, answers
    assert {status for status, _ in answers} <= {202, 409}
    listed = dep.http.get("/v1/jobs", params={"status": "queued"}).json()["items"]
    assert [job["id"] for job in listed] == list(created)
    again = dep.http.post("/v1/jobs", json=body, headers=headers)
    assert (again.status_code, again.json()["id"]) == (202, created.pop())
    assert again.headers["Idempotent-Replayed"] == "true"
