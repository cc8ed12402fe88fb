"""The ``backprop`` console script: the command table, ``migrate``, argument checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from app.cli import build_parser, main
from app.config import get_settings
from tests.helpers import BACKPROP


def test_the_command_table_registers_serve_and_migrate() -> None:
    args = build_parser().parse_args(["serve", "--port", "9000", "--workers", "0"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 9000, 0)
    assert build_parser().parse_args(["migrate"]).command == "migrate"


def test_migrate_creates_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("BACKPROP_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().out == f"database at head: {url}\n"
    engine = create_engine(url)
    assert {"datasets", "jobs", "metrics"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_serve_refuses_a_negative_worker_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "-1"]) == 2
    assert capsys.readouterr().err == "--workers must be >= 0\n"


def test_help_names_the_client_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "BACKPROP_URL" in out and "BACKPROP_API_KEY" in out


def test_output_into_a_closed_pipe_ends_quietly(server: Any) -> None:
    """``backprop datasets list | head -1``: the reader is gone before the command
    writes; the command exits 0 without a traceback."""
    env = {**os.environ, "BACKPROP_URL": server.url}
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write raises EPIPE
    try:
        done = subprocess.run(
            [str(BACKPROP), "datasets", "list"],
            stdout=write,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.stderr.decode() == ""
    assert done.returncode == 0


def test_progress_keeps_significant_digits_of_a_small_loss() -> None:
    from app.cli.follow import FollowState, describe

    state = FollowState(job_id="j", epoch=300, epochs=300)
    state.last = {"train_loss": 0.000561234, "train_accuracy": 1.0}
    assert describe(state) == "epoch 300/300, loss 0.0005612, accuracy 1.0000"


def test_serve_refuses_a_short_api_key_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKPROP_API_KEYS", "alice-secret")
    get_settings.cache_clear()
    try:
        assert main(["serve", "--workers", "0"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("error: BACKPROP_API_KEYS: key 1 has 12 characters;")
    assert err.count("\n") == 1
