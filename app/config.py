"""Service settings, read from ``BACKPROP_*`` environment variables.

Every field has a safe default so ``import app`` needs no ``.env`` file. Read them
through :func:`get_settings` (cached); tests build a :class:`Settings` directly and pass
it to ``create_app`` / the worker.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of the API, the worker and ``backprop serve``."""

    # An empty variable counts as unset (compose passes `${BACKPROP_CPUS:-}` as "").
    model_config = SettingsConfigDict(env_prefix="BACKPROP_", extra="ignore", env_ignore_empty=True)

    database_url: str = Field(
        default="sqlite:///./backprop.db", description="SQLAlchemy URL of the database."
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a silent worker keeps its job before it is requeued.",
    )
    checkpoint_seconds: float = Field(
        default=10.0, ge=0, description="Minimum seconds between two checkpoints of a running job."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Workers lost on one job before it is marked failed."
    )
    poll_interval: float = Field(
        default=0.5, gt=0, description="Seconds an idle worker waits before looking for work again."
    )
    cancel_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="Seconds between two checks for a cancel request while training.",
    )
    max_body_bytes: int = Field(
        default=256 * 1024 * 1024, gt=0, description="Largest accepted request body (413 above)."
    )
    page_size: int = Field(default=50, ge=1, description="Default page size of list endpoints.")
    max_page_size: int = Field(
        default=1000, ge=1, description="Largest page size a client may ask for."
    )
    sqlite_busy_timeout_ms: int = Field(
        default=30_000, ge=0, description="How long SQLite waits for a lock before failing."
    )
    log_level: str = Field(default="info", description="Log level of the API and the workers.")
    api_keys: str = Field(
        default="",
        description="API keys (comma-separated, or @/path/to/file with one per line); "
        "empty: the API is open (no authentication). See app/api/auth.py.",
    )
    admin_api_keys: str = Field(
        default="", description="Admin API keys (same format): see every owner's data."
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS (none by default)."
    )
    # Limits (app/limits.py) and idempotent submits (app/api/idempotency.py).
    max_dataset_values: int = Field(
        default=100_000_000, ge=1, description="Largest dataset, in rows x features (422 above)."
    )
    max_network_parameters: int = Field(
        default=10_000_000, ge=1, description="Largest network, in weights + biases (422 above)."
    )
    max_epochs: int = Field(
        default=100_000, ge=1, description="Most epochs one job may ask for (422 above)."
    )
    max_queued_jobs: int = Field(
        default=10_000, ge=1, description="Jobs waiting in the queue before submits get 429."
    )
    max_snapshots: int = Field(
        default=1000,
        ge=1,
        description="Most weight snapshots one job may keep (training.snapshot_every; "
        "422 at submit above).",
    )
    max_snapshot_values: int = Field(
        default=20_000_000,
        ge=1,
        description="Most snapshots x network parameters one job may keep (422 above).",
    )
    max_sweep_trials: int = Field(
        default=1000, ge=1, description="Most trials one sweep may ask for (422 above)."
    )
    max_sweep_parallelism: int = Field(
        default=64, ge=1, description="Most trials of one sweep queued or running at once."
    )
    idempotency_ttl_seconds: float = Field(
        default=86_400.0, gt=0, description="How long an Idempotency-Key's response is replayed."
    )
    idempotency_stale_seconds: float = Field(
        default=600.0, gt=0, description="After this, an unfinished request's key may be reused."
    )
    # Many jobs on one machine (app/cpu.py, app/metrics.py, worker/datasets.py).
    cpus: int | None = Field(
        default=None,
        ge=1,
        description="CPUs the workers of this host may use (default: the process's "
        "CPU affinity count).",
    )
    host_workers: int = Field(
        default=1,
        ge=1,
        description="Worker processes sharing this host's CPUs (set by backprop serve).",
    )
    worker_threads: int | None = Field(
        default=None,
        ge=1,
        description="BLAS threads per worker (default: max(1, cpus // host_workers)).",
    )
    dataset_cache_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description="Decoded datasets a worker keeps for its next jobs, in bytes (0: none).",
    )
    metrics_token: str = Field(
        default="",
        description="A bearer token for GET /metrics (besides admin keys); when set, "
        "/metrics needs it or an admin key even if the API is open.",
    )

    @property
    def heartbeat_seconds(self) -> float:
        """A running job's lease is renewed this often (a third of the lease)."""
        return self.lease_seconds / 3


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
