"""JSON columns hold strict JSON on both databases: a diverging job's NaN/inf health
numbers are stored as null (NaN and inf are not JSON; PostgreSQL's json type refuses
them)."""

from __future__ import annotations

import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import jobqueue
from app.db.models import Metric
from tests.helpers import submit_job


def test_non_finite_numbers_in_json_columns_are_stored_as_null(session: Session) -> None:
    job = submit_job(session)
    lease = jobqueue.claim(session, "w", 30)
    assert lease is not None and lease.job_id == job.id
    health = [{"grad_norm": math.inf, "update_ratio": math.nan, "saturated_fraction": 0.5,
               "dead_fraction": -math.inf}]  # fmt: skip
    row = {"epoch": 1, "train_loss": 1.0, "health": health}
    jobqueue.record_epoch(session, lease, row)
    session.expire_all()
    stored = session.scalars(select(Metric.health).where(Metric.job_id == job.id)).one()
    assert stored == [{"grad_norm": None, "update_ratio": None, "saturated_fraction": 0.5,
                       "dead_fraction": None}]  # fmt: skip
