"""A worker's dataset cache: bounded in bytes, least recently used out first, read-only
arrays, never a stale copy; the next job on a dataset skips the load and trains to the
same bits."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker, undefer

from app import jobqueue
from app.config import Settings
from app.datasets import encode_array, view_array
from app.db.models import Dataset, Job
from tests.helpers import add_dataset, network_spec, training_config
from worker.datasets import DatasetCache
from worker.runner import Worker


def arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of 2 float64 inputs and 1 target: 24 n bytes."""
    return np.zeros((n, 2)), np.zeros((n, 1))


def test_the_cache_keeps_the_most_recent_within_its_bytes() -> None:
    cache = DatasetCache(max_bytes=24 * 100)
    cache.put("a", *arrays(40))
    cache.put("b", *arrays(40))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", *arrays(40))  # 120 rows > 100: the least recent (b) goes
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert cache.bytes == 24 * 80 and len(cache) == 2
    assert (cache.hits, cache.misses) == (3, 1)


def test_an_array_larger_than_the_budget_is_used_but_not_kept() -> None:
    cache = DatasetCache(max_bytes=24 * 10)
    x, y = cache.put("big", *arrays(11))
    assert x.shape == (11, 2) and cache.get("big") is None and cache.bytes == 0
    assert DatasetCache(max_bytes=0).put("any", *arrays(1))[0].shape == (1, 2)


def test_cached_arrays_are_read_only() -> None:
    cache = DatasetCache(max_bytes=10_000)
    x, _ = cache.put("a", np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="read-only"):
        x[0, 0] = 5.0


def test_view_array_is_the_stored_array_without_a_copy() -> None:
    for array in (np.arange(12.0).reshape(3, 4), np.asfortranarray(np.ones((3, 4))),
                  np.arange(5, dtype=np.int64), np.zeros((0, 3))):  # fmt: skip
        data = encode_array(array)
        view = view_array(data)
        assert view.dtype == array.dtype and np.array_equal(view, array)
        assert not view.flags.writeable and view.base is not None


def submit(session: Session, dataset: Dataset) -> str:
    return jobqueue.submit(
        session, dataset=dataset, network=network_spec(sizes=[2, 6, 1]),
        training=training_config(epochs=3), initial_weights=None, max_attempts=3,
    ).id  # fmt: skip


def weights(sessions: sessionmaker[Session], job_id: str) -> bytes:
    with sessions() as session:
        job = session.scalars(
            select(Job).where(Job.id == job_id).options(undefer(Job.weights))
        ).one()
        assert job.status == "succeeded", job.error
        assert job.weights is not None
        return job.weights


def test_the_next_job_on_a_dataset_is_a_hit_and_trains_to_the_same_bits(
    settings: Settings, session: Session, sessions: sessionmaker[Session]
) -> None:
    dataset = add_dataset(session)
    first, second = submit(session, dataset), submit(session, dataset)
    worker = Worker(settings, owner="cached")
    try:
        assert worker.run_once() == first and worker.run_once() == second
        assert (worker.datasets.misses, worker.datasets.hits) == (1, 1)
    finally:
        worker.close()
    assert weights(sessions, first) == weights(sessions, second)


def test_a_changed_dataset_is_never_served_from_the_cache(
    settings: Settings, session: Session, sessions: sessionmaker[Session]
) -> None:
    rng = np.random.default_rng(1)
    dataset = add_dataset(session, inputs=rng.normal(size=(40, 2)),
                          targets=(rng.random((40, 1)) > 0.5).astype(float))  # fmt: skip
    worker = Worker(settings, owner="changed")
    try:
        before = submit(session, dataset)
        assert worker.run_once() == before
        changed_x = rng.normal(size=(48, 2))  # other content, other size
        changed_y = (rng.random((48, 1)) > 0.5).astype(float)
        with sessions() as s:
            s.execute(
                update(Dataset)
                .where(Dataset.id == dataset.id)
                .values(
                    inputs=encode_array(changed_x), targets=encode_array(changed_y), n_samples=48
                )  # fmt: skip
            )
            s.commit()
        after = submit(session, dataset)
        assert worker.run_once() == after
        assert worker.datasets.hits == 0 and worker.datasets.misses == 2
    finally:
        worker.close()
    reference = Worker(settings, owner="fresh")  # an empty cache: what is stored now
    try:
        again = submit(session, dataset)
        assert reference.run_once() == again
    finally:
        reference.close()
    assert weights(sessions, after) == weights(sessions, again)
