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
    decode_values,
    encode_values,
    generate,
    parse_arrays,
    parse_csv,
    parse_npz,
)
from app.db.faults import free_bytes
from app.db.models import ACTIVE_STATUSES, ACTIVE_SWEEP_STATUSES, Dataset, Job, Sweep
from app.db.session import rowcount
from app.db.types import utcnow
from app.errors import Conflict, InvalidInput, NotFound, StorageFull
from app.limits import Limits
from app.plots.grid import target_labels
from app.schemas.datasets import DatasetCreate, DatasetGenerate, DatasetPreview


def store(session: Session, limits: Limits, name: str, parsed: ParsedDataset) -> Dataset:
    """Check the size limit, then persist a parsed dataset with its arrays as ``.npy``
    bytes, float32 where exact (one INSERT; every way of creating a dataset ends here).
    The digest is of the float64 values, whichever dtype stores them."""
    inputs, targets = parsed.inputs, parsed.targets
    limits.check_dataset(*inputs.shape)
    blobs = encode_values(inputs), encode_values(targets)
    _check_room(session, sum(len(b) for b in blobs))
    row = Dataset(
        name=name,
        n_samples=int(inputs.shape[0]),
        n_features=int(inputs.shape[1]),
        n_outputs=int(targets.shape[1]),
        task=parsed.task,
        classes=list(parsed.classes) if parsed.classes is not None else None,
        inputs=blobs[0],
        targets=blobs[1],
        created_at=utcnow(),
        sha256=dataset_sha256(inputs, targets),
    )
    session.add(row)
    session.commit()
    return row


#: Room kept free beside a new dataset (pages of indexes, other writers' commits).
SPACE_MARGIN = 4 * 1024 * 1024


def _check_room(session: Session, size: int) -> None:
    """StorageFull unless the SQLite database's volume has room for ``size`` bytes of
    arrays: twice (the write-ahead log, then the database file) plus a margin. A write
    that does not fit would fail half-way and leave its pages filling the volume."""
    free = free_bytes(str(session.get_bind().engine.url))
    needed = 2 * size + SPACE_MARGIN
    if free is not None and free < needed:
        raise StorageFull(
            f"not enough free space to store this dataset: it needs about {_mb(needed)} on "
            f"the database's volume ({_mb(size)} of arrays, written twice: the log, then "
            f"the database file) and {_mb(free)} are free; nothing was stored"
        )


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


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


PREVIEW_MAX_SAMPLES = 10_000
"""Most samples a preview returns: it is for drawing, and its JSON answer is about 50
bytes per sample."""


def preview(limits: Limits, request: DatasetGenerate) -> DatasetPreview:
    """The points :func:`generated` would store for ``request``, without storing them."""
    if request.n_samples > PREVIEW_MAX_SAMPLES:
        raise InvalidInput(
            "n_samples",
            f"a preview shows at most {PREVIEW_MAX_SAMPLES:,} samples, got "
            f"{request.n_samples:,} (POST /v1/datasets/generate makes larger datasets)",
        )
    parsed = generate(
        request.kind,
        n_samples=request.n_samples,
        noise=request.noise,
        seed=request.seed,
        n_classes=request.n_classes,
    )
    limits.check_dataset(*parsed.inputs.shape)
    inputs, targets = parsed.inputs, parsed.targets
    classification = parsed.task == "classification"
    return DatasetPreview(
        inputs=inputs.tolist(),
        targets=targets.tolist(),
        classes=list(parsed.classes) if parsed.classes is not None else None,
        task=parsed.task,
        n_samples=int(inputs.shape[0]),
        n_features=int(inputs.shape[1]),
        n_outputs=int(targets.shape[1]),
        labels=target_labels(targets).tolist() if classification else None,
    )


def get(session: Session, dataset_id: str, *, arrays: bool = False) -> Dataset:
    """One dataset by id (with its array blobs if ``arrays``), or NotFound."""
    stmt = select(Dataset).where(Dataset.id == dataset_id)
    if arrays:
        stmt = stmt.options(undefer(Dataset.inputs), undefer(Dataset.targets))
    dataset = session.scalars(stmt).first()
    if dataset is None:
        raise NotFound("dataset", dataset_id)
    return dataset


def resolve(session: Session, dataset_id: str | None, dataset_name: str | None) -> Dataset:
    """The dataset a request names by ``dataset_id`` or else ``dataset_name``, or NotFound."""
    if dataset_id is not None:
        return get(session, dataset_id)
    return find_by_name(session, str(dataset_name))


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
    return Arrays(row, decode_values(row.inputs), decode_values(row.targets))


def remove(session: Session, dataset_id: str) -> None:
    """Delete a dataset unless a queued or running job or an unfinished sweep (which
    will make more trials of it) uses it (one atomic DELETE). Finished jobs and sweeps
    keep their results; their ``dataset_id`` becomes null."""
    in_use = exists().where(Job.dataset_id == dataset_id, Job.status.in_(ACTIVE_STATUSES))
    sweeping = exists().where(
        Sweep.dataset_id == dataset_id,
        Sweep.status.in_(ACTIVE_SWEEP_STATUSES) | Sweep.finished_at.is_(None),
    )
    result = session.execute(delete(Dataset).where(Dataset.id == dataset_id, ~in_use, ~sweeping))
    session.commit()
    if rowcount(result):
        return
    get(session, dataset_id)  # raises NotFound
    by_job = session.scalar(select(in_use))
    session.rollback()
    if by_job:
        raise Conflict(f"dataset {dataset_id!r} is used by a queued or running job")
    raise Conflict(f"dataset {dataset_id!r} is used by an unfinished sweep")
