"""Prometheus metrics of the workers and the API (prometheus-client).

``backprop serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` for the API and every worker it
starts (prometheus-client's multiprocess mode): each process writes its samples to files
there and ``GET /metrics`` on the API reads them all, so one scrape covers every process
of the host. Without it (a lone ``python -m worker``, tests) the metrics live in the
process's default registry.

Families (the names are the contract; docs/metrics.md):

- ``backprop_jobs{status}`` (gauge): jobs per status, read from the database at scrape
  time (``app/services/metrics.py``);
- ``backprop_job_pickup_seconds`` (histogram): submit to first claim;
- ``backprop_epoch_seconds`` (histogram): each trained epoch's duration;
- ``backprop_workers_busy`` (gauge): workers training a job now;
- ``backprop_jobs_finished_total{status}`` (counter): jobs a worker ended;
- ``http_requests_total``, ``http_request_duration_seconds``: the API's requests
  (prometheus-fastapi-instrumentator, ``app/api/metrics.py``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The multiprocess directory of this process, or None (single-process mode)."""
    return os.environ.get(MULTIPROC_ENV) or None


def process_identifier(pid: int | None = None) -> str:
    """Names this process's sample files: host and pid, so that processes of several
    containers sharing one directory never write the same file."""
    host = socket.gethostname().replace("_", "-") or "host"
    return f"{host}-{os.getpid() if pid is None else pid}"


if multiprocess_dir():  # before any metric is made: each picks its value class then
    os.makedirs(str(multiprocess_dir()), exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
EPOCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

JOB_PICKUP_SECONDS = Histogram(
    "backprop_job_pickup_seconds",
    "Seconds from a job's submit to its first claim by a worker.",
    buckets=LATENCY_BUCKETS,
)
EPOCH_SECONDS = Histogram(
    "backprop_epoch_seconds", "Wall time of each trained epoch.", buckets=EPOCH_BUCKETS
)
WORKERS_BUSY = Gauge(
    "backprop_workers_busy", "Worker processes training a job now.", multiprocess_mode="livesum"
)
JOBS_FINISHED = Counter(
    "backprop_jobs_finished", "Jobs a worker ended, by final status.", ["status"]
)


def mark_process_dead(pid: int, directory: str | None = None) -> None:
    """Drop the live gauges of a process that exited (by itself, or its supervisor)."""
    directory = directory or multiprocess_dir()
    if directory:
        multiprocess.mark_process_dead(process_identifier(pid), directory)


def clean_directory(directory: str) -> None:
    """Remove the sample files of earlier runs (at ``backprop serve`` start)."""
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


class _Default(Collector):
    """The process's default registry, as one collector of a scrape registry."""

    def collect(self) -> Iterable[object]:  # type: ignore[override]
        return REGISTRY.collect()


def exposition(scraped: Iterable[Collector], local: Iterable[Collector] = ()) -> bytes:
    """The text exposition of every process's metrics plus ``scraped`` (collectors that
    read their values at scrape time). In single-process mode this process's default
    registry and ``local`` (registries of this process's own, e.g. the API's HTTP
    metrics) stand for every process; in multiprocess mode those samples are in the
    directory already."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        multiprocess.MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_Default())
        for collector in local:
            registry.register(collector)
    for collector in scraped:
        registry.register(collector)
    return generate_latest(registry)
