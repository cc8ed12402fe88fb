"""The environment a job trains in: what could make a rerun of the same inputs differ.

The worker records :func:`capture` with each attempt of a job (``Job.environment``);
receipts show it and replays compare it. Only things that can change the numbers are
kept (no host name, no paths): versions of Backprop, Python and NumPy, the BLAS library
with its kernel and thread count (threadpoolctl), which matrix-product path the engine
takes, the CPU model and the operating system.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from app.nn import blas


def capture() -> dict[str, Any]:
    """This process's environment now (thread counts can change at run time)."""
    return {
        "backprop": _version("backprop"),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "numpy": np.__version__,
        "blas": [
            {
                "library": info.get("internal_api"),
                "version": info.get("version"),
                "kernel": info.get("architecture"),
                "threads": info.get("num_threads"),
                "threading_layer": info.get("threading_layer"),
            }
            for info in _pools().info()
            if info.get("user_api") == "blas"
        ],
        "engine_gemm": "blas" if blas.direct() else "numpy",
        "cpu": cpu_model(),
        "os": platform.platform(),
    }


@lru_cache  # an installed package's version does not change under a running process
def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@lru_cache
def _pools() -> ThreadpoolController:
    """The process's thread pools, found once (a scan of the loaded libraries: ~2 ms);
    their ``info()`` reads the thread counts as they are now."""
    return ThreadpoolController()


@lru_cache
def cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Processor") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def merged(stored: list[dict[str, Any]] | None, current: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's environments after an attempt ran in ``current``: appended if new."""
    known = list(stored or [])
    return known if current in known else [*known, current]
