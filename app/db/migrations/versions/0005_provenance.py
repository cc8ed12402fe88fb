"""Provenance: dataset digests, job lineage (continue / warm start), replays, environments.

Adds ``datasets.sha256`` (backfilled from the stored arrays, one row at a time) and the
jobs' ``parent_id``, ``from_mode``, ``replay_of``, ``dataset_sha256`` (backfilled from
their dataset), ``start_state_sha256``, ``start_epoch``, ``environment`` and ``replay``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.datasets import DatasetError, dataset_sha256, decode_array

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_COLUMNS = (
    sa.Column("parent_id", sa.String(32), nullable=True),
    sa.Column("from_mode", sa.String(20), nullable=True),
    sa.Column("replay_of", sa.String(32), nullable=True),
    sa.Column("dataset_sha256", sa.String(64), nullable=True),
    sa.Column("start_state_sha256", sa.String(64), nullable=True),
    sa.Column("start_epoch", sa.Integer(), nullable=True),
    sa.Column("environment", sa.JSON(), nullable=True),
    sa.Column("replay", sa.JSON(), nullable=True),
)


def upgrade() -> None:
    op.add_column("datasets", sa.Column("sha256", sa.String(64), nullable=True))
    for column in JOB_COLUMNS:
        op.add_column("jobs", column)
    op.create_index("ix_jobs_parent_id", "jobs", ["parent_id"])
    _backfill()


def _backfill() -> None:
    """Digest every existing dataset (arrays read one dataset at a time), then copy each
    job's dataset digest onto the job."""
    conn = op.get_bind()
    datasets = sa.table(
        "datasets",
        sa.column("id", sa.String),
        sa.column("inputs", sa.LargeBinary),
        sa.column("targets", sa.LargeBinary),
        sa.column("sha256", sa.String),
    )
    jobs = sa.table(
        "jobs",
        sa.column("dataset_id", sa.String),
        sa.column("dataset_sha256", sa.String),
    )
    ids = conn.execute(sa.select(datasets.c.id).where(datasets.c.sha256.is_(None))).scalars()
    for dataset_id in list(ids):
        row = conn.execute(
            sa.select(datasets.c.inputs, datasets.c.targets).where(datasets.c.id == dataset_id)
        ).one()
        try:
            digest = dataset_sha256(decode_array(row.inputs), decode_array(row.targets))
        except DatasetError:
            continue  # unreadable arrays: no digest (the API shows null)
        conn.execute(sa.update(datasets).where(datasets.c.id == dataset_id).values(sha256=digest))
    of_dataset = (
        sa.select(datasets.c.sha256).where(datasets.c.id == jobs.c.dataset_id).scalar_subquery()
    )
    conn.execute(
        sa.update(jobs)
        .where(jobs.c.dataset_id.is_not(None), jobs.c.dataset_sha256.is_(None))
        .values(dataset_sha256=of_dataset)
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_parent_id", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in reversed(JOB_COLUMNS):
            batch.drop_column(column.name)
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("sha256")
