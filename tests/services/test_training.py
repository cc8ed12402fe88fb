"""What a worker reads in the claim's transaction: the job, its dataset reference."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.db.models import Job
from app.services import training
from tests.helpers import submit_job


def test_claim_reads_the_job_and_its_dataset_in_the_claims_transaction(session: Session) -> None:
    first, second = submit_job(session), submit_job(session)
    found = training.claim(session, "w1", lease_seconds=30)
    assert found is not None
    lease, claimed = found
    assert lease.job_id == claimed.job.id == first.id
    assert claimed.dataset is not None and claimed.dataset.id == first.dataset_id
    assert claimed.dataset.inputs_bytes > 0
    assert not session.in_transaction()  # committed: other workers see the claim
    session.expire_all()
    assert session.get(Job, first.id).status == "running"  # type: ignore[union-attr]
    assert session.get(Job, second.id).status == "queued"  # type: ignore[union-attr]


def test_claim_of_an_empty_queue_leaves_no_transaction_open(session: Session) -> None:
    assert training.claim(session, "w1", lease_seconds=30) is None
    assert not session.in_transaction()


def test_a_failed_read_undoes_the_claim(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    job = submit_job(session)

    def broken(*_args: object) -> None:
        raise RuntimeError("read failed")

    monkeypatch.setattr(training, "load", broken)
    with pytest.raises(RuntimeError):
        training.claim(session, "w1", lease_seconds=30)
    session.rollback()  # what closing the worker's session does
    session.expire_all()
    row = session.get(Job, job.id)
    assert row is not None and row.status == "queued" and row.attempts == 0
