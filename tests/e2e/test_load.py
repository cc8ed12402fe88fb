"""Concurrent submits and polls against the real server, scaled for the suite: 2
workers, 40 jobs, 4 pollers, 16 submitters.

It runs ``benchmarks/load.py`` (the real ``backprop serve``) and then checks its
database and logs itself rather than trusting the script's verdict alone.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e

JOBS, EPOCHS = 40, 20


def test_concurrent_submits_and_polls_run_every_job_exactly_once(tmp_path: Path) -> None:
    argv = [
        sys.executable, str(ROOT / "benchmarks" / "load.py"), "--workers", "2",
        "--jobs", str(JOBS), "--epochs", str(EPOCHS), "--pollers", "4", "--submitters", "16",
        "--timeout", "50", "--dir", str(tmp_path), "--json",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] is True
    assert report["errors"] == 0, report["error_samples"]
    assert report["statuses"] == {"succeeded": JOBS}
    assert report["poll_count"] > 0

    with sqlite3.connect(tmp_path / "load.db") as conn:
        jobs = conn.execute("SELECT status, attempts, epoch FROM jobs").fetchall()
        per_job = conn.execute(
            "SELECT count(*), min(epoch), max(epoch), count(DISTINCT epoch)"
            " FROM metrics GROUP BY job_id"
        ).fetchall()
    assert sorted(set(jobs)) == [("succeeded", 1, EPOCHS)]
    assert len(jobs) == JOBS
    assert per_job == [(EPOCHS, 1, EPOCHS, EPOCHS)] * JOBS

    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert "database is locked" not in logs
    assert "Traceback" not in logs
