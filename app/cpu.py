"""The CPU budget: how many workers a host runs and how many BLAS threads each may use.

NumPy's BLAS starts one thread per core by default, in every process. Two workers on two
cores would then run four busy threads and both jobs crawl. So each worker sizes its BLAS
pool (threadpoolctl, ``worker/threads.py``) to its share of the host's CPUs:

    threads = BACKPROP_WORKER_THREADS, or max(1, cpus // workers on this host)

``cpus`` is ``BACKPROP_CPUS``, by default the CPUs this process may run on (its
affinity; in a container with a cpuset, that set). ``backprop serve`` tells its workers
how many share the host (``BACKPROP_HOST_WORKERS``); a lone ``python -m worker`` counts
itself alone unless told. ``backprop serve --workers auto`` starts one worker per CPU:
at this engine's matrix sizes a second process adds far more than a second BLAS thread
(docs/performance.md, "Many jobs on one machine").
"""

from __future__ import annotations

import os

from app.config import Settings


def available_cpus() -> int:
    """CPUs this process may run on (its affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_budget(settings: Settings) -> int:
    """``BACKPROP_CPUS`` or the affinity count."""
    return settings.cpus or available_cpus()


def auto_workers(settings: Settings) -> int:
    """The worker count ``--workers auto`` starts: one per CPU of the budget."""
    return cpu_budget(settings)


def blas_threads(settings: Settings) -> int:
    """BLAS threads for one worker: its share of the budget, or the explicit setting."""
    if settings.worker_threads:
        return settings.worker_threads
    return max(1, cpu_budget(settings) // max(1, settings.host_workers))
