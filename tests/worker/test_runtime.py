"""worker.runtime: a job's max_runtime_seconds, counted over all its attempts."""

from __future__ import annotations

from worker.runtime import RuntimeLimit


def never() -> bool:
    return False


def test_without_a_limit_should_stop_is_left_as_it_is() -> None:
    unlimited = RuntimeLimit(None)
    assert unlimited.wrap(never) is never  # no per-batch cost when there is no limit
    assert not unlimited.exceeded()


def test_time_already_trained_counts() -> None:
    spent = RuntimeLimit(5.0, already=5.5)
    assert spent.exceeded()
    assert spent.wrap(never)() is True
    assert spent.reason(epoch=3, batch=7).startswith(
        "exceeded max_runtime_seconds=5.0 (trained 5.5 s; stopped in epoch 4 after 7 batches)"
    )
    fresh = RuntimeLimit(60.0, already=1.0)
    assert not fresh.wrap(never)()
