"""Fixtures of the live tests: a real uvicorn server on a temporary SQLite file, run in a
thread of the test process, and a `driver` that moves jobs through their lifecycle with
the same `app.jobqueue` transitions a worker uses, one step at a time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from app import jobqueue
from app.api.main import create_app
from app.api.routes import events
from app.config import Settings
from app.db.models import JobStatus
from app.db.session import make_engine, make_sessionmaker
from app.jobqueue import Lease

POLL = 0.05  # the event stream's database poll, shortened for the tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadServer:
    """uvicorn serving `create_app(settings)` on 127.0.0.1 from a background thread."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadServer]:
    monkeypatch.setattr(events, "POLL_SECONDS", POLL)
    with ThreadServer(settings) as running:
        yield running


@pytest.fixture
def api(server: ThreadServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


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
        self, lease: Lease, epoch: int, *, accuracy: bool = True, checkpoint: bytes | None = None
    ) -> None:
        with self.sessions() as session:
            jobqueue.record_epoch(session, lease, metric_row(epoch, accuracy=accuracy), checkpoint)

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


@pytest.fixture
def driver(settings: Settings) -> Iterator[Driver]:
    d = Driver(settings)
    yield d
    d.close()


XOR_NETWORK = {"sizes": [2, 4, 1]}


def make_dataset(api: httpx.Client, kind: str = "xor", **extra: Any) -> dict[str, Any]:
    response = api.post(
        "/v1/datasets/generate", json={"kind": kind, "n_samples": 40, "seed": 0, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def make_job(
    api: httpx.Client, dataset: dict[str, Any], epochs: int = 5, sizes: list[int] | None = None
) -> dict[str, Any]:
    sizes = sizes or [dataset["n_features"], 4, dataset["n_outputs"]]
    response = api.post(
        "/v1/jobs",
        json={
            "dataset_id": dataset["id"],
            "network": {"sizes": sizes},
            "training": {"epochs": epochs, "batch_size": 4, "learning_rate": 2.0},
        },
    )
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


__all__ = ["Driver", "ThreadServer", "make_dataset", "make_job", "metric_row"]
