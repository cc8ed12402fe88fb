"""`backprop sweep`: the leaderboard's order and text (the commands against a real server
are in tests/e2e/test_sweeps.py)."""

from __future__ import annotations

from typing import Any

import pytest

from app.cli import build_parser
from app.cli.client import CLIError
from app.cli.sweeps import leaderboard, params_text, read_spec, summary


def trial(number: int, status: str, value: float | None, latest: float | None = None) -> dict:
    return {"number": number, "status": status, "value": value, "latest": latest,
            "epochs": 3, "params": {"training.learning_rate": 0.5, "network.sizes": [2, 8, 1]},
            "job_id": f"job{number}"}  # fmt: skip


def sweep(direction: str) -> dict[str, Any]:
    return {"id": "s1", "name": "grid", "status": "running", "max_trials": 6,
            "objective": {"metric": "validation_loss", "direction": direction},
            "counts": {"succeeded": 2, "pruned": 1, "running": 1, "failed": 1, "queued": 1},
            "best": {"number": 1, "value": 0.1, "job_id": "job1",
                     "params": {"training.learning_rate": 0.5}}}  # fmt: skip


TRIALS = [
    trial(0, "succeeded", 0.3),
    trial(1, "succeeded", 0.1),
    trial(2, "pruned", 0.05),
    trial(3, "running", None, latest=0.2),
    trial(4, "failed", None),
    trial(5, "queued", None),
]


def test_completed_trials_lead_by_the_objective_then_pruned_running_and_the_rest() -> None:
    order = [row["number"] for row in leaderboard(sweep("minimize"), TRIALS)]
    assert order == [1, 0, 2, 3, 4, 5]
    order = [row["number"] for row in leaderboard(sweep("maximize"), TRIALS)]
    assert order == [0, 1, 2, 3, 4, 5]
    rows = leaderboard(sweep("minimize"), TRIALS)
    assert [row["rank"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[3]["value"] == 0.2  # a running trial shows its latest value


def test_params_and_summary_read_as_one_line() -> None:
    assert params_text({"training.learning_rate": 0.5, "network.sizes": [2, 8, 1]}) == (
        "learning_rate=0.5 sizes=2-8-1"
    )
    line = summary(sweep("minimize"))
    assert line.startswith("sweep s1 (grid) running: 1 failed, 1 pruned, 1 queued, 1 running,")
    assert "of 6; best trial 1 validation_loss 0.1 (learning_rate=0.5, job job1)" in line


def test_a_spec_file_must_be_a_json_object(tmp_path: Any) -> None:
    path = tmp_path / "sweep.json"
    path.write_text("[1, 2]")
    with pytest.raises(CLIError, match="a sweep spec is a JSON object"):
        read_spec(str(path))
    path.write_text("{nope")
    with pytest.raises(CLIError, match="is not valid JSON"):
        read_spec(str(path))


def test_the_sweep_commands_are_registered() -> None:
    args = build_parser().parse_args(["sweep", "create", "--spec", "s.json", "--follow"])
    assert (args.spec, args.follow) == ("s.json", True)
    args = build_parser().parse_args(["sweep", "show", "abc", "--json"])
    assert (args.id, args.json, args.follow) == ("abc", True, False)
