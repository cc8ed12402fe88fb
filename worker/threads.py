"""Applies the CPU budget (``app/cpu.py``) to this worker process's thread pools."""

from __future__ import annotations

import logging
from typing import Any

from threadpoolctl import threadpool_info, threadpool_limits

from app.config import Settings
from app.cpu import blas_threads, cpu_budget

log = logging.getLogger("backprop.worker")

_limits: Any = None  # kept for the life of the process


def apply_cpu_budget(settings: Settings) -> int:
    """Limit every BLAS/OpenMP pool of this process to its share of the CPUs; log what
    threadpoolctl reports afterwards. Returns the thread count asked for."""
    global _limits
    threads = blas_threads(settings)
    _limits = threadpool_limits(limits=threads)
    pools = ", ".join(
        f"{pool.get('internal_api')}={pool.get('num_threads')}" for pool in threadpool_info()
    )
    log.info(
        "CPU budget: %d BLAS thread(s) per worker (%d CPUs, %d worker(s) on this host); "
        "threadpoolctl: %s",
        threads, cpu_budget(settings), settings.host_workers, pools or "no pools",
    )  # fmt: skip
    return threads
