"""Fixtures of the worker's tests."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine

from app.nn import EpochMetrics, NetworkSpec, TrainingConfig, TrainState, train
from worker.outage import Outage

EPOCHS = 6


@pytest.fixture(scope="module")
def epochs() -> list[tuple[EpochMetrics, TrainState]]:
    """What a real ``EPOCHS``-epoch XOR run hands ``on_epoch_end``."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    seen: list[tuple[EpochMetrics, TrainState]] = []
    train(
        NetworkSpec(sizes=[2, 3, 1]),
        TrainingConfig(epochs=EPOCHS, batch_size=2),
        x,
        y,
        task="classification",
        on_epoch_end=lambda m, s: seen.append((m, s)),
    )
    return seen


@pytest.fixture
def outage(engine: Engine) -> Outage:
    """What a worker knows of the test database being reachable."""
    return Outage(engine)
