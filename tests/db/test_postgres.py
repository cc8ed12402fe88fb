"""PostgreSQL specifics: claims skip rows other transactions hold (FOR UPDATE SKIP
LOCKED), concurrent migrators serialise, blobs are ``bytea`` and round-trip intact.

The rest of the database-facing suite (job queue, API, worker, end to end) runs on
PostgreSQL too, through the ``database_url`` fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from app import jobqueue
from app.config import Settings
from app.datasets import decode_array, encode_array
from app.db.migrate import upgrade_head
from app.db.models import Dataset
from app.db.session import make_engine, make_sessionmaker
from tests.helpers import Cluster, add_dataset, make_settings, submit_job

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres: Cluster) -> Iterator[str]:
    """A fresh empty PostgreSQL database (schema), not yet migrated."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture
def pg_settings(pg_url: str) -> Settings:
    settings = make_settings(pg_url)
    upgrade_head(settings)
    return settings


def test_a_claim_skips_the_row_another_claimer_holds_instead_of_waiting(
    pg_settings: Settings,
) -> None:
    engine = make_engine(pg_settings)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as session:
            first, second = submit_job(session).id, submit_job(session).id
        with engine.connect() as holder:
            holder.begin()
            held = holder.execute(
                text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": first}
            ).scalar()
            assert held == first
            with sessions() as session:
                session.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail
                started = time.monotonic()
                lease = jobqueue.claim(session, "w", 30)
                assert lease is not None and lease.job_id == second
                assert time.monotonic() - started < 1.0
            holder.rollback()
        with sessions() as session:
            again = jobqueue.claim(session, "w2", 30)
            assert again is not None and again.job_id == first  # free again after rollback
    finally:
        engine.dispose()


def _migrate(url: str) -> None:
    upgrade_head(Settings(database_url=url))


def test_workers_starting_together_on_an_empty_database_migrate_it_once(pg_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_migrate, args=(pg_url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
        assert {"datasets", "jobs", "metrics"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_blobs_are_bytea_and_a_large_array_round_trips(pg_settings: Settings) -> None:
    engine = make_engine(pg_settings)
    try:
        columns = {
            (table, c["name"]): c["type"].__class__.__name__.upper()
            for table in ("datasets", "jobs")
            for c in inspect(engine).get_columns(table)
        }
        for key in [
            ("datasets", "inputs"),
            ("datasets", "targets"),
            ("jobs", "weights"),
            ("jobs", "checkpoint"),
        ]:
            assert columns[key] == "BYTEA", (key, columns[key])
        inputs = np.random.default_rng(0).standard_normal((50_000, 100))  # 40 MB
        targets = np.ones((50_000, 1))
        with Session(engine) as session:
            row = add_dataset(session, inputs=inputs, targets=targets, task="regression")
            dataset_id = row.id
        with Session(engine) as session:
            stored = session.scalars(select(Dataset).where(Dataset.id == dataset_id)).one()
            assert stored.inputs == encode_array(inputs)
            np.testing.assert_array_equal(decode_array(stored.inputs), inputs)
            size = session.execute(
                text("SELECT octet_length(inputs) FROM datasets WHERE id = :id"),
                {"id": dataset_id},
            ).scalar()
            assert size == len(encode_array(inputs))  # raw bytes, no text encoding
    finally:
        engine.dispose()
