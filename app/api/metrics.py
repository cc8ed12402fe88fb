"""HTTP metrics of the API (prometheus-fastapi-instrumentator): ``http_requests_total``
(by handler, method, status class) and ``http_request_duration_seconds`` (by handler and
method), among its defaults. ``/metrics`` itself is not counted."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator


def install_metrics(app: FastAPI) -> None:
    """Instrument every request (the outermost middleware, so refusals count too).

    Each app gets its own registry (several apps in one process, as in the tests, would
    otherwise clash on the metric names); in multiprocess mode the samples go to the
    shared directory all the same."""
    registry = CollectorRegistry(auto_describe=True)
    app.state.metrics_registry = registry
    Instrumentator(registry=registry, excluded_handlers=["^/metrics$"]).instrument(app)
