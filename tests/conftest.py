"""Fixtures shared by the whole suite, each defined once here.

A migrated temporary database (SQLite, and PostgreSQL from a throwaway cluster: every
test that takes ``settings`` runs on both) with engine and sessions; the app in-process
(``client``); the app served by uvicorn in a thread (``server``, ``api``) with a
``driver`` playing the worker; the same with API keys (``keyed_settings``,
``keyed_server``); a real in-process ``worker``; a headless Chromium ``page``. Plain
helpers are in ``tests.helpers``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.api import sse
from app.api.main import create_app
from app.config import Settings
from app.db.faults import sqlite_path
from app.db.migrate import upgrade_head
from app.db.session import make_engine, make_sessionmaker
from tests.helpers import (
    ADMIN_API_KEY,
    API_KEY,
    BACKENDS,
    OTHER_API_KEY,
    POLL,
    Cluster,
    Driver,
    External,
    ThreadServer,
    fresh_database,
    make_settings,
    missing_reason,
)
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS
from worker.runner import Worker

# An existing PostgreSQL database to use instead of starting a throwaway server (e.g.
# postgresql+psycopg://user@host/db_for_tests); each test gets a new schema in it.
TEST_DATABASE_URL = os.environ.get("BACKPROP_TEST_DATABASE_URL")


# -- databases ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster | External]:
    """PostgreSQL for the whole session: BACKPROP_TEST_DATABASE_URL, or a server started
    on 127.0.0.1 (skipped, with the reason, only where its binaries are not installed)."""
    if TEST_DATABASE_URL:
        yield External(TEST_DATABASE_URL)
        return
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    cluster = Cluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database: SQLite file, then PostgreSQL database."""
    return fresh_database(request, request.param, tmp_path / "backprop.db")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test's SQLite database starts as a copy of it
    (the same bytes the migrations would write, without running them ~1,000 times)."""
    path = tmp_path_factory.mktemp("migrated") / "backprop.db"
    upgrade_head(make_settings(path))
    leftovers = [p.name for p in path.parent.iterdir() if p.name != path.name]
    assert not leftovers, f"the migrated file is not self-contained: {leftovers}"
    return path


def migrate(settings: Settings, template: Path) -> None:
    """Bring the test database to the newest revision: a copy of ``template`` for a new
    SQLite file, the migrations for any other database."""
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        shutil.copyfile(template, path)
    else:
        upgrade_head(settings)


@pytest.fixture
def settings(database_url: str, migrated_sqlite: Path) -> Settings:
    """Settings on a fresh, migrated database (each backend in turn)."""
    settings = make_settings(database_url)
    migrate(settings, migrated_sqlite)
    return settings


@pytest.fixture
def keyed_settings(database_url: str, migrated_sqlite: Path) -> Settings:
    """Settings on a fresh, migrated database that require an API key: API_KEY and
    OTHER_API_KEY (two users), ADMIN_API_KEY (sees everything); CORS off."""
    settings = make_settings(
        database_url,
        api_keys=f"{API_KEY}, {OTHER_API_KEY}",
        admin_api_keys=ADMIN_API_KEY,
        cors_origins="",
    )
    migrate(settings, migrated_sqlite)
    return settings


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the test database."""
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on the test database."""
    return make_sessionmaker(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session on the test database."""
    with sessions() as session:
        yield session


# -- the app in-process -----------------------------------------------------------------


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of ``create_app(settings)`` with its lifespan running."""
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app per module on a migrated SQLite file, for tests that store nothing."""
    settings = make_settings(tmp_path_factory.mktemp("shared") / "backprop.db")
    upgrade_head(settings)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def worker(settings: Settings) -> Iterator[Worker]:
    """The real worker, in-process on the test database: ``run_once()`` trains a job."""
    worker = Worker(settings, owner="test-worker")
    yield worker
    worker.close()


# -- the app served over HTTP (uvicorn in a thread) ---------------------------------------


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadServer]:
    """uvicorn serving ``create_app(settings)`` on a free port, the event stream polling
    every POLL seconds."""
    monkeypatch.setattr(sse, "POLL_SECONDS", POLL)
    with ThreadServer(settings) as running:
        yield running


@pytest.fixture
def keyed_server(
    keyed_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ThreadServer]:
    """As ``server``, on ``keyed_settings``: every /v1 request needs an API key."""
    monkeypatch.setattr(sse, "POLL_SECONDS", POLL)
    with ThreadServer(keyed_settings) as running:
        yield running


@pytest.fixture
def api(server: ThreadServer) -> Iterator[httpx.Client]:
    """An HTTP client of ``server``."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def driver(settings: Settings) -> Iterator[Driver]:
    """Plays the worker's part on the test database, one jobqueue step at a time."""
    d = Driver(settings)
    yield d
    d.close()


# -- a browser ------------------------------------------------------------------------------


@pytest.fixture
def page() -> Iterator[Any]:
    """A page of Debian's Chromium (headless, 1280 x 900), driven by Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
