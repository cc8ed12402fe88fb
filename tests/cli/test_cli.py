"""The ``backprop`` console script: the command table, ``migrate``, argument checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from app.cli import build_parser, main
from app.config import get_settings


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
