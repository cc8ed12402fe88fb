"""The CLI sends ``BACKPROP_API_KEY``: against a keyed server it works with the key and
fails with the API's 401 message without it."""

from __future__ import annotations

import pytest

from app.cli import main
from tests.helpers import API_KEY, ThreadServer

KEY = API_KEY  # one of the keys of `keyed_settings`


def test_the_cli_sends_backprop_api_key(
    keyed_server: ThreadServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BACKPROP_URL", keyed_server.url)
    monkeypatch.delenv("BACKPROP_API_KEY", raising=False)
    assert main(["jobs", "list"]) == 1
    err = capsys.readouterr().err
    assert "401" in err and "missing API key" in err, err
    monkeypatch.setenv("BACKPROP_API_KEY", KEY)
    assert main(["datasets", "generate", "xor", "--n-samples", "20"]) == 0
    assert main(["jobs", "list"]) == 0
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "xor" in out
