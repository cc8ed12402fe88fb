"""Settings: safe defaults without any environment, ``BACKPROP_*`` overrides."""

from __future__ import annotations

import os

import pytest

from app.config import Settings, get_settings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BACKPROP_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.database_url == "sqlite:///./backprop.db"
    assert settings.lease_seconds == 30 and settings.heartbeat_seconds == 10
    assert settings.max_body_bytes == 256 * 1024 * 1024 and settings.max_attempts == 3


def test_environment_overrides_and_get_settings_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_LEASE_SECONDS", "6")
    monkeypatch.setenv("BACKPROP_DATABASE_URL", "sqlite:///elsewhere.db")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.lease_seconds == 6 and settings.heartbeat_seconds == 2
        assert settings.database_url == "sqlite:///elsewhere.db"
        assert get_settings() is settings
    finally:
        get_settings.cache_clear()


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_LEASE_SECONDS", "0")
    with pytest.raises(ValueError, match="lease_seconds"):
        Settings()


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker compose passes `${BACKPROP_CPUS:-}` as an empty string when it is not set."""
    monkeypatch.setenv("BACKPROP_CPUS", "")
    monkeypatch.setenv("BACKPROP_WORKER_THREADS", "")
    monkeypatch.setenv("BACKPROP_METRICS_TOKEN", "")
    settings = Settings()
    assert settings.cpus is None and settings.worker_threads is None
    assert settings.metrics_token == ""
    monkeypatch.setenv("BACKPROP_CPUS", "3")
    assert Settings().cpus == 3
