"""A `Driver` that moves jobs through their lifecycle with the same `app.jobqueue`
transitions a worker uses, one step at a time, and the HTTP calls that create what it
drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from app import jobqueue
from app.config import Settings
from app.db.models import JobStatus
from app.db.session import make_engine, make_sessionmaker
from app.jobqueue import Lease


def metric_row(epoch: int, *, accuracy: bool = True) -> dict[str, Any]:
    """A plausible epoch of metrics (a falling loss), as the worker records it."""
    return {
        "epoch": epoch,
        "train_loss": 1.0 / epoch,
        "train_accuracy": 1 - 0.5 / epoch if accuracy else None,
        "validation_loss": 1.1 / epoch,
        "validation_accuracy": 1 - 0.6 / epoch if accuracy else None,
        "learning_rate": 0.5,
        "seconds": 0.01,
        "health": None,
    }


@dataclass
class Driver:
    """Plays the worker's part, step by step, through `app.jobqueue`."""

    settings: Settings

    def __post_init__(self) -> None:
        self.engine = make_engine(self.settings)
        self.sessions = make_sessionmaker(self.engine)

    def claim(self) -> Lease:
        with self.sessions() as session:
            lease = jobqueue.claim(session, "test-driver", 300)
        assert lease is not None, "no queued job to claim"
        return lease

    def epoch(
        self,
        lease: Lease,
        epoch: int,
        *,
        accuracy: bool = True,
        checkpoint: bytes | None = None,
        snapshot: bytes | None = None,
    ) -> None:
        with self.sessions() as session:
            row = metric_row(epoch, accuracy=accuracy)
            jobqueue.record_epoch(session, lease, row, checkpoint, snapshot)

    def reset(self, lease: Lease, epoch: int) -> None:
        with self.sessions() as session:
            jobqueue.reset_progress(session, lease, epoch)

    def finish(
        self,
        lease: Lease,
        status: str = "succeeded",
        *,
        weights: bytes | None = None,
        error: str | None = None,
    ) -> None:
        with self.sessions() as session:
            jobqueue.finish(session, lease, JobStatus(status), weights=weights, error=error)

    def close(self) -> None:
        self.engine.dispose()


def make_dataset(api: httpx.Client, kind: str = "xor", **extra: Any) -> dict[str, Any]:
    """Generate a dataset of ``kind`` (40 samples, seed 0) through the API."""
    response = api.post(
        "/v1/datasets/generate", json={"kind": kind, "n_samples": 40, "seed": 0, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def make_job(
    api: httpx.Client,
    dataset: dict[str, Any],
    epochs: int = 5,
    sizes: list[int] | None = None,
    **training: Any,
) -> dict[str, Any]:
    """Submit a small job on ``dataset`` through the API (queued until driven);
    ``training`` adds or overrides training fields."""
    sizes = sizes or [dataset["n_features"], 4, dataset["n_outputs"]]
    response = api.post(
        "/v1/jobs",
        json={
            "dataset_id": dataset["id"],
            "network": {"sizes": sizes},
            "training": {"epochs": epochs, "batch_size": 4, "learning_rate": 2.0, **training},
        },
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]
