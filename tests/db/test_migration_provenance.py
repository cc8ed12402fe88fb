"""Migration 0005 digests the datasets that exist already and copies each digest onto
their jobs (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from app.datasets import dataset_sha256
from app.db.migrate import alembic_config, upgrade_head
from app.db.session import make_engine
from app.db.types import utcnow
from tests.helpers import XOR_INPUTS, XOR_TARGETS, make_settings, npy


def test_upgrade_backfills_dataset_digests(database_url: str) -> None:
    settings = make_settings(database_url)
    command.upgrade(alembic_config(database_url), "0003")
    datasets = sa.table(
        "datasets",
        *(sa.column(c) for c in ("id", "name", "n_samples", "n_features", "n_outputs")),
        sa.column("task"),
        sa.column("inputs", sa.LargeBinary),
        sa.column("targets", sa.LargeBinary),
        sa.column("created_at", sa.DateTime),
    )
    jobs = sa.table(
        "jobs",
        *(sa.column(c) for c in ("id", "status", "dataset_id", "task", "epoch", "epochs")),
        sa.column("network", sa.JSON),
        sa.column("training", sa.JSON),
        sa.column("attempts"),
        sa.column("max_attempts"),
        sa.column("cancel_requested", sa.Boolean),
        sa.column("created_at", sa.DateTime),
    )
    now = utcnow().replace(tzinfo=None)
    engine = make_engine(settings)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(datasets).values(
                    id="d1", name="xor", n_samples=4, n_features=2, n_outputs=1,
                    task="classification", inputs=npy(XOR_INPUTS), targets=npy(XOR_TARGETS),
                    created_at=now,
                )
            )  # fmt: skip
            conn.execute(
                sa.insert(datasets).values(
                    id="d2", name="broken", n_samples=4, n_features=2, n_outputs=1,
                    task="classification", inputs=b"not npy", targets=b"", created_at=now,
                )
            )  # fmt: skip
            for job_id, dataset_id in (("j1", "d1"), ("j2", None)):
                conn.execute(
                    sa.insert(jobs).values(
                        id=job_id, status="succeeded", dataset_id=dataset_id,
                        task="classification", epoch=1, epochs=1, network={"sizes": [2, 1]},
                        training={"epochs": 1}, attempts=1, max_attempts=3,
                        cancel_requested=False, created_at=now,
                    )
                )  # fmt: skip
        upgrade_head(settings)
        with engine.connect() as conn:
            digests = dict(conn.execute(sa.text("SELECT id, sha256 FROM datasets")).all())
            copied = dict(conn.execute(sa.text("SELECT id, dataset_sha256 FROM jobs")).all())
    finally:
        engine.dispose()
    expected = dataset_sha256(XOR_INPUTS, XOR_TARGETS)
    assert digests == {"d1": expected, "d2": None}  # unreadable arrays get no digest
    assert copied == {"j1": expected, "j2": None}
