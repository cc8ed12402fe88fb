"""Replays and continues survive kill -9: real ``python -m worker`` processes.

The API (``backprop serve --workers 0``) and workers run as subprocesses on a temporary
database (SQLite, then PostgreSQL); a worker is SIGKILLed mid-run, its lease aged by
writing the database, and another worker resumes the job from its checkpoint. The replay
of a job that was killed and resumed matches it bit for bit, also when the replay itself
is killed and resumed; a chain of continues, each killed mid-run, ends where one
uninterrupted run ends.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import BACKENDS, Deployment, deployment, fresh_database
from tests.worker.test_crash import (
    EVERY_EPOCH,
    NETWORK,
    TRAINING,
    assert_bit_identical,
    curve,
    wait_running_at,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=BACKENDS)
def module_deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("provenance")
    url = fresh_database(request, request.param, tmp / "backprop.db")
    with deployment(tmp, url) as dep:
        dep.start_api()
        yield dep
    assert "database is locked" not in dep.log_text()


@pytest.fixture
def dep(module_deployment: Deployment) -> Iterator[Deployment]:
    yield module_deployment
    module_deployment.finish_test()


def kill_and_resume(dep: Deployment, worker: subprocess.Popen[bytes], job_id: str) -> Any:
    """SIGKILL the worker running ``job_id`` (past epoch 2), age its lease and start
    another worker, which resumes it."""
    wait_running_at(dep, job_id, 2)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=10) == -signal.SIGKILL
    assert dep.row(job_id).status == "running"
    dep.expire_lease(job_id)
    return dep.start_worker(env=EVERY_EPOCH)


def post(dep: Deployment, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = dep.http.post(path, json=body) if body is not None else dep.http.post(path)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


def test_replay_matches_after_kill_9_of_the_original_and_of_the_replay(
    dep: Deployment,
) -> None:
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    original = dep.submit(dataset["id"], NETWORK, TRAINING)["id"]
    worker = dep.start_worker(env=EVERY_EPOCH)
    worker = kill_and_resume(dep, worker, original)
    done = dep.wait_status(original, "succeeded", "failed", "cancelled")
    assert (done["status"], done["attempts"]) == ("succeeded", 2)

    replay = post(dep, f"/v1/jobs/{original}/replay")["id"]  # the live worker takes it
    kill_and_resume(dep, worker, replay)
    replayed = dep.wait_status(replay, "succeeded", "failed", "cancelled")
    assert (replayed["status"], replayed["attempts"]) == ("succeeded", 2), replayed
    assert replayed["replay"] == {
        "of": original,
        "matches": True,
        "max_abs_diff": 0.0,
        "weights_identical": True,
        "metrics_identical": True,
        "first_difference": None,
        "differences": [],
    }
    # The verdict agrees with a comparison made here, over HTTP.
    assert_bit_identical(dep.weights_npz(original), dep.weights_npz(replay))
    assert curve(dep.metrics(original)) == curve(dep.metrics(replay))
    assert dep.log_text().count("resuming at epoch") >= 2


def test_continues_killed_mid_run_end_where_one_run_ends(dep: Deployment) -> None:
    dataset = dep.generate("circles", n_samples=400, noise=0.1, seed=3)
    # Small batches: epochs slow enough that the continue cannot finish its 20 epochs
    # between the test seeing it past epoch 22 and killing its worker.
    training = {**TRAINING, "batch_size": 2}
    total = training["epochs"]
    parent = dep.submit(dataset["id"], NETWORK, {**training, "epochs": total // 2})["id"]
    reference = dep.submit(dataset["id"], NETWORK, training)["id"]
    worker = dep.start_worker(env=EVERY_EPOCH)
    worker = kill_and_resume(dep, worker, parent)
    assert dep.wait_status(parent, "succeeded", "failed")["status"] == "succeeded"
    dep.wait_status(reference, "succeeded", "failed")

    child = post(
        dep,
        "/v1/jobs",
        {"from_job": {"id": parent, "mode": "continue"}, "training": {"epochs": total}},
    )["id"]
    wait_running_at(dep, child, total // 2 + 2)
    kill_and_resume(dep, worker, child)
    done = dep.wait_status(child, "succeeded", "failed", "cancelled")
    assert (done["status"], done["attempts"]) == ("succeeded", 2), done

    assert_bit_identical(dep.weights_npz(child), dep.weights_npz(reference))
    continued = dep.metrics(child)
    assert [row["epoch"] for row in continued] == list(range(1, total + 1))
    assert curve(continued) == curve(dep.metrics(reference))
