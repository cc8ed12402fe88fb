"""Health probe: one row that GET /health rewrites to check that the database can write.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_probe",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("written_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("health_probe")
