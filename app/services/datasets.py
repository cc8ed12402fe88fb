"""Datasets: create them (JSON arrays, uploaded files, generators), read, delete."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

import numpy as np
from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session, undefer

from app.datasets import (
    ParsedDataset,
    dataset_sha256,
    decode_array,
    encode_array,
    generate,
    parse_arrays,
    parse_csv,
    parse_npz,
)
from app.db.models import ACTIVE_STATUSES, Dataset, Job
from app.db.session import rowcount
from app.db.types import utcnow
from app.errors import Conflict, NotFound
from app.limits import Limits
from app.schemas.datasets import DatasetCreate, DatasetGenerate


def store(session: Session, limits: Limits, name: str, parsed: ParsedDataset) -> Dataset:
    """Check the size limit, then persist a parsed dataset with its arrays as ``.npy``
    bytes (one INSERT; every way of creating a dataset ends here)."""
    inputs, targets = parsed.inputs, parsed.targets
    limits.check_dataset(*inputs.shape)
    row = Dataset(
        name=name,
        n_samples=int(inputs.shape[0]),
        n_features=int(inputs.shape[1]),
        n_outputs=int(targets.shape[1]),
        task=parsed.task,
        classes=list(parsed.classes) if parsed.classes is not None else None,
        inputs=encode_array(inputs),
        targets=encode_array(targets),
        created_at=utcnow(),
        sha256=dataset_sha256(inputs, targets),
    )
    session.add(row)
    session.commit()
    return row


def create(session: Session, limits: Limits, request: DatasetCreate) -> Dataset:
    """A dataset from JSON arrays: ``inputs`` and ``targets``, or class ``labels``."""
    parsed = parse_arrays(
        request.inputs, targets=request.targets, labels=request.labels, task=request.task
    )
    return store(session, limits, request.name, parsed)


def upload(
    session: Session,
    limits: Limits,
    file: IO[bytes],
    filename: str,
    *,
    name: str | None,
    target: str | None,
    task: str,
) -> Dataset:
    """A dataset from an uploaded CSV file (header row) or ``.npz`` archive.

    The file is parsed as it is read, with the size limit enforced before (``.npz``: from
    the arrays' headers) or while (CSV) the values are decoded, so an upload over the
    limit is refused without ever being held in memory as numbers.
    """
    magic = file.read(4)
    file.seek(0)
    cap = limits.max_dataset_values
    if magic == b"PK\x03\x04" or filename.lower().endswith(".npz"):
        parsed = parse_npz(file, task=task, max_values=cap)
    else:
        columns = [c.strip() for c in target.split(",") if c.strip()] if target else None
        parsed = parse_csv(file, target=columns, task=task, max_values=cap)
    return store(session, limits, name or filename, parsed)


def generated(session: Session, limits: Limits, request: DatasetGenerate) -> Dataset:
    """A seeded toy dataset (xor, circles, moons, spirals, blobs, sine)."""
    parsed = generate(
        request.kind,
        n_samples=request.n_samples,
        noise=request.noise,
        seed=request.seed,
        n_classes=request.n_classes,
    )
    return store(session, limits, request.name or request.kind, parsed)


def get(session: Session, dataset_id: str, *, arrays: bool = False) -> Dataset:
    """One dataset by id (with its array blobs if ``arrays``), or NotFound."""
    stmt = select(Dataset).where(Dataset.id == dataset_id)
    if arrays:
        stmt = stmt.options(undefer(Dataset.inputs), undefer(Dataset.targets))
    dataset = session.scalars(stmt).first()
    if dataset is None:
        raise NotFound("dataset", dataset_id)
    return dataset


def find_by_name(session: Session, name: str) -> Dataset:
    """The newest dataset called ``name``, or NotFound."""
    stmt = (
        select(Dataset)
        .where(Dataset.name == name)
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(1)
    )
    dataset = session.scalars(stmt).first()
    if dataset is None:
        raise NotFound("dataset named", name)
    return dataset


def page(session: Session, limit: int, offset: int) -> tuple[list[Dataset], int]:
    """A page of datasets (newest first) and the total count."""
    total = session.scalar(select(func.count()).select_from(Dataset)) or 0
    rows = session.scalars(
        select(Dataset)
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


@dataclass(frozen=True)
class Arrays:
    """A stored dataset's arrays."""

    dataset: Dataset
    inputs: np.ndarray
    targets: np.ndarray

    def npz(self) -> bytes:
        """The arrays as an ``.npz`` file (``inputs``, ``targets``)."""
        buffer = io.BytesIO()
        np.savez(buffer, inputs=self.inputs, targets=self.targets)
        return buffer.getvalue()


def arrays(session: Session, dataset_id: str) -> Arrays:
    """A dataset with its decoded arrays, or NotFound."""
    row = get(session, dataset_id, arrays=True)
    return Arrays(row, decode_array(row.inputs), decode_array(row.targets))


def remove(session: Session, dataset_id: str) -> None:
    """Delete a dataset unless a queued or running job uses it (one atomic DELETE).
    Finished jobs keep their results; their ``dataset_id`` becomes null."""
    in_use = exists().where(Job.dataset_id == dataset_id, Job.status.in_(ACTIVE_STATUSES))
    result = session.execute(delete(Dataset).where(Dataset.id == dataset_id, ~in_use))
    session.commit()
    if rowcount(result):
        return
    get(session, dataset_id)  # raises NotFound
    session.rollback()
    raise Conflict(f"dataset {dataset_id!r} is used by a queued or running job")
