"""The client commands of `backprop`, run in-process against a live server (in a thread),
with the `driver` playing the worker so each outcome can be chosen."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.api import sse
from app.cli import main
from app.nn import Network, NetworkSpec
from tests.helpers import Driver, ThreadServer, make_dataset, make_job


@pytest.fixture
def cli(
    server: ThreadServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run `backprop ARGS...`; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("BACKPROP_URL", server.url)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def drive_in_background(driver: Driver, epochs: int, outcome: str, **kw: Any) -> threading.Thread:
    def play() -> None:
        lease = driver.claim()
        for epoch in range(1, epochs + 1):
            driver.epoch(lease, epoch)
        driver.finish(lease, outcome, **kw)

    thread = threading.Thread(target=play)
    thread.start()
    return thread


def queued_job_id(api: httpx.Client) -> str:
    items = api.get("/v1/jobs", params={"status": "queued"}).json()["items"]
    assert len(items) == 1
    return str(items[0]["id"])


@pytest.mark.parametrize(("outcome", "code"), [("succeeded", 0), ("failed", 3)])
def test_follow_exits_with_the_job_outcome(
    cli: Any,
    api: httpx.Client,
    driver: Driver,
    outcome: str,
    code: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sse, "PING_SECONDS", 0.02)  # keep-alives between events
    dataset = make_dataset(api)
    job = make_job(api, dataset, epochs=20)
    error = "training diverged at epoch 20: train loss is nan" if outcome == "failed" else None
    thread = drive_in_background(driver, 20, outcome, error=error)
    exit_code, out, err = cli("jobs", "follow", job["id"])
    thread.join()
    assert exit_code == code
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(
        f"job {job['id']} {outcome}: epoch 20/20, loss 0.05, "
        "accuracy 0.9750, val loss 0.055, val accuracy 0.9700"
    )
    if error:
        assert summary.endswith(f"; error: {error}")
    # Not a terminal: plain progress lines, about one per tenth of the epochs.
    progress = [line for line in err.splitlines() if " epoch " in line]
    shown = [line.split()[2].rstrip(",") for line in progress]
    assert shown == [f"{e}/20" for e in range(2, 21, 2)]


def test_train_follow_submits_and_follows(cli: Any, api: httpx.Client, driver: Driver) -> None:
    dataset = make_dataset(api)
    result: dict[str, Any] = {}

    def submit() -> None:
        result["run"] = cli(
            "train",
            "--dataset",
            dataset["id"],
            "--sizes",
            "2,8,1",
            "--epochs",
            "4",
            "--learning-rate",
            "2",
            "--optimizer",
            "adam",
            "--follow",
        )

    thread = threading.Thread(target=submit)
    thread.start()
    for _ in range(200):
        if api.get("/v1/jobs").json()["items"]:
            break
        threading.Event().wait(0.02)
    job_id = queued_job_id(api)
    job = api.get(f"/v1/jobs/{job_id}").json()
    assert job["network"]["sizes"] == [2, 8, 1]
    assert job["training"]["optimizer"] == "adam" and job["training"]["epochs"] == 4
    drive_in_background(driver, 4, "cancelled").join()
    thread.join()
    code, out, _ = result["run"]
    assert code == 4
    assert out.splitlines()[0] == f"job {job_id} queued"
    assert out.splitlines()[-1].startswith(f"job {job_id} cancelled: epoch 4/4")


def test_train_from_a_spec_file_with_flag_overrides(
    cli: Any, api: httpx.Client, tmp_path: Path
) -> None:
    dataset = make_dataset(api)
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "dataset_id": dataset["id"],
                "network": {"sizes": [2, 3, 1], "hidden_activation": "tanh"},
                "training": {"epochs": 7, "learning_rate": 0.1},
            }
        )
    )
    code, out, _ = cli("train", "--spec", str(spec), "--epochs", "9")
    assert code == 0
    job = json.loads(out)
    assert job["status"] == "queued"
    assert job["network"]["hidden_activation"] == "tanh"
    assert job["training"]["epochs"] == 9 and job["training"]["learning_rate"] == 0.1


def test_api_errors_are_one_line_and_non_zero(cli: Any, api: httpx.Client) -> None:
    code, out, err = cli("jobs", "show", "nope")
    assert (code, out) == (1, "")
    assert err == "error: GET /v1/jobs/nope failed (404): job 'nope' not found\n"
    dataset = make_dataset(api)
    code, _, err = cli("train", "--dataset", dataset["id"], "--sizes", "3,8,1")
    assert code == 1
    assert err == (
        "error: POST /v1/jobs failed (422): network.sizes: sizes[0] is 3 but the "
        "dataset has 2 features\n"
    )
    code, _, err = cli("train", "--sizes", "2,8,1")
    assert (code, err) == (1, "error: train needs --dataset ID (or a spec file with dataset_id)\n")


def test_unreachable_server_is_one_line(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_URL", "http://127.0.0.1:9")
    code, _, err = cli("datasets", "list")
    assert code == 1
    assert err.startswith("error: cannot reach the Backprop API at http://127.0.0.1:9 ")
    assert err.count("\n") == 1


def test_bad_sizes_are_a_usage_error(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--dataset", "x", "--sizes", "2,a"])
    assert exit_info.value.code == 2
    assert "--sizes takes comma-separated integers like 2,8,1, got '2,a'" in capsys.readouterr().err


def test_datasets_upload_generate_list(cli: Any, tmp_path: Path) -> None:
    csv_file = tmp_path / "points.csv"
    csv_file.write_text("x1,x2,label,weight\n0,0,a,1\n0,1,b,2\n1,0,b,3\n1,1,a,4\n")
    code, out, _ = cli("datasets", "upload", str(csv_file), "--target", "label")
    assert code == 0
    uploaded = json.loads(out)
    assert uploaded["name"] == "points"
    assert (uploaded["n_features"], uploaded["classes"]) == (3, ["a", "b"])
    code, out, _ = cli("datasets", "generate", "moons", "--n-samples", "30", "--name", "m")
    assert code == 0 and json.loads(out)["n_samples"] == 30
    code, out, _ = cli("datasets", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SAMPLES", "FEATURES", "OUTPUTS", "TASK", "CREATED"]
    assert {line.split()[1] for line in lines[1:]} == {"points", "m"}


def test_jobs_list_cancel_delete(cli: Any, api: httpx.Client) -> None:
    job = make_job(api, make_dataset(api))
    code, out, _ = cli("jobs", "list")
    assert code == 0 and out.splitlines()[1].split()[:4] == [job["id"], "queued", "0", "5"]
    assert cli("jobs", "cancel", job["id"])[:2] == (0, f"job {job['id']}: cancelled\n")
    code, _, err = cli("jobs", "cancel", job["id"])
    assert code == 1 and "(409): job" in err and "is already cancelled" in err
    assert cli("jobs", "delete", job["id"])[:2] == (0, f"job {job['id']} deleted\n")
    assert cli("jobs", "show", job["id"])[0] == 1


def test_weights_and_predict(cli: Any, api: httpx.Client, driver: Driver, tmp_path: Path) -> None:
    job = make_job(api, make_dataset(api), epochs=1)
    net = Network.initialize(NetworkSpec(sizes=[2, 4, 1]), seed=3)
    drive_in_background(driver, 1, "succeeded", weights=net.to_npz()).join()
    code, out, _ = cli("weights", job["id"], "-o", str(tmp_path / "w.npz"))
    assert code == 0 and out.startswith("wrote ")
    loaded = Network.from_npz((tmp_path / "w.npz").read_bytes())
    x = np.array([[0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(loaded.forward(x), net.forward(x))
    code, out, _ = cli("weights", job["id"])
    assert json.loads(out)["sizes"] == [2, 4, 1]
    inputs = tmp_path / "inputs.csv"
    inputs.write_text("x1,x2\n0,1\n1,1\n")
    code, out, _ = cli("predict", job["id"], "--inputs", str(inputs))
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["outputs"], net.forward(x))


def test_follow_resumes_after_the_server_restarts(
    settings: Any,
    driver: Driver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The connection drops mid-job; `follow` reconnects with Last-Event-ID and shows
    every epoch exactly once."""
    monkeypatch.setattr(sse, "POLL_SECONDS", 0.05)
    first = ThreadServer(settings).__enter__()
    monkeypatch.setenv("BACKPROP_URL", first.url)
    with httpx.Client(base_url=first.url) as api:
        job = make_job(api, make_dataset(api), epochs=10)
    lease = driver.claim()
    result: dict[str, int] = {}
    thread = threading.Thread(
        target=lambda: result.update(code=main(["jobs", "follow", job["id"]]))
    )
    thread.start()
    for epoch in range(1, 5):
        driver.epoch(lease, epoch)
    with httpx.Client(base_url=first.url) as api:  # the client has seen epoch 4
        while api.get(f"/v1/jobs/{job['id']}").json()["progress"]["epoch"] < 4:
            threading.Event().wait(0.02)
    threading.Event().wait(0.3)
    first.__exit__()
    for epoch in range(5, 11):  # recorded while nobody serves the stream
        driver.epoch(lease, epoch)
    driver.finish(lease)
    with ThreadServer(settings, port=first.port):
        thread.join(timeout=30)
    assert result["code"] == 0
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1].startswith(f"job {job['id']} succeeded: epoch 10/10")
    shown = [line.split()[2].rstrip(",") for line in err.splitlines() if " epoch " in line]
    assert shown == [f"{e}/10" for e in range(1, 11)]
