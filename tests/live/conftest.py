"""Kept for benchmarks/live_bench.py, which imports the job driver and the thread server
from here: they live in tests.helpers, the fixtures in tests/conftest.py. Delete this
file (and the folder) once that script imports from ``tests.helpers``."""

from tests.helpers import Driver, ThreadServer, make_dataset, make_job, metric_row

__all__ = ["Driver", "ThreadServer", "make_dataset", "make_job", "metric_row"]
