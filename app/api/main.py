"""The FastAPI application factory.

``create_app()`` builds the app; the lifespan (not import time) creates the database
engine and session factory. Other helpers add routers here with one ``include_router``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from app.api.auth import install_auth
from app.api.body_limit import BodyLimitMiddleware
from app.api.errors import install_error_handlers
from app.api.idempotency import install_idempotency
from app.api.metrics import install_metrics
from app.api.routes import (
    backprop,
    dashboard,
    datasets,
    events,
    health,
    jobs,
    metrics,
    plots,
    previews,
    provenance,
    sweeps,
)
from app.config import Settings, get_settings
from app.db.ownership import adopt_legacy_owners
from app.db.session import make_engine, make_sessionmaker

log = logging.getLogger("backprop.api")

DESCRIPTION = """
Train neural networks over REST. Send a dataset and a network spec; a background worker
trains it with NumPy backpropagation; read the loss curve, the weights and predictions back.

**Try it out** in three calls: `POST /v1/datasets/generate` (XOR), `POST /v1/jobs`
(the example body trains on the newest dataset named "xor"), then
`GET /v1/jobs/{id}` and `GET /v1/jobs/{id}/metrics`.
"""


async def _connections_returned(engine: Engine, timeout: float = 5.0) -> None:
    """Wait (up to ``timeout``) until no pooled connection is checked out.

    At shutdown uvicorn cancels the requests still open (an event stream) without
    waiting for a database read already running in a worker thread; a connection that
    thread returns after ``dispose()`` went back to the discarded pool and was never
    closed (PostgreSQL tests saw psycopg's "deleted while still open" warning).
    """
    checked_out = getattr(engine.pool, "checkedout", None)
    if checked_out is None:
        return
    with anyio.move_on_after(timeout):
        while checked_out() > 0:
            await anyio.sleep(0.02)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API. ``settings`` defaults to the environment's (``BACKPROP_*``)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        if keyring.enabled:  # rows stamped with an older owner id of a configured key
            try:
                await anyio.to_thread.run_sync(adopt_legacy_owners, engine, keyring.keys)
            except SQLAlchemyError as exc:  # not migrated yet, or down: serve anyway
                log.warning("owner ids not checked at start-up: %s", type(exc).__name__)
        try:
            yield
        finally:
            await _connections_returned(engine)
            engine.dispose()

    app = FastAPIOffline(
        title="Backprop",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_idempotency(  # before the body limit, which must stay the outer middleware
        app,
        ttl_seconds=settings.idempotency_ttl_seconds,
        stale_seconds=settings.idempotency_stale_seconds,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    keyring = install_auth(app, settings)  # outside the body limit: no key, no body read
    install_metrics(app)  # outermost: every request counts, refusals included
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(datasets.router)
    app.include_router(previews.router)
    app.include_router(jobs.router)
    app.include_router(provenance.router)
    app.include_router(backprop.router)
    app.include_router(events.router)
    app.include_router(plots.router)
    app.include_router(sweeps.router)
    app.include_router(dashboard.router)
    return app
