"""A job's optional runtime budget, ``training.max_runtime_seconds``, over all its attempts."""

from __future__ import annotations

import time
from collections.abc import Callable


class RuntimeLimit:
    """``limit`` seconds of training in all, ``already`` of them spent by earlier attempts.

    :meth:`wrap` turns the worker's ``should_stop`` into one that also says stop once the
    budget is spent; it costs one ``time.monotonic()`` per batch, and nothing without a
    limit.
    """

    def __init__(self, limit: float | None, already: float = 0.0) -> None:
        self.limit = limit
        self.already = already
        self.start = time.monotonic()

    def used(self) -> float:
        return self.already + time.monotonic() - self.start

    def exceeded(self) -> bool:
        return self.limit is not None and self.used() > self.limit

    def wrap(self, should_stop: Callable[[], bool]) -> Callable[[], bool]:
        if self.limit is None:
            return should_stop
        return lambda: should_stop() or self.exceeded()

    def reason(self, epoch: int, batch: int) -> str:
        return (
            f"exceeded max_runtime_seconds={self.limit} (trained {self.used():.1f} s; "
            f"stopped in epoch {epoch + 1} after {batch} batches)"
        )
