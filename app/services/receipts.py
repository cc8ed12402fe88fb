"""Reproducibility receipts and replays (docs/reproducibility.md).

A receipt lists everything that determines a job's result (data digest, fully resolved
spec, seeds, dtype, start weights or state, parent) and everything that could make a
rerun differ (the environments the worker recorded). A replay is a new job with the
same inputs; when it finishes, the worker stores :func:`verdict`: the two results
compared weight by weight and metric row by metric row, and the receipt fields in which
the runs differ.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import jobqueue
from app.config import Settings
from app.datasets import arrays_sha256
from app.db.models import Job, JobStatus, Metric
from app.errors import Conflict, NotFound
from app.jobqueue import Start
from app.limits import Limits
from app.nn import Network
from app.schemas.jobs import JobSpec, MetricRow
from app.schemas.provenance import (
    Environment,
    Receipt,
    ReceiptInputs,
    ReceiptResult,
    ReplayVerdict,
    Seeds,
)
from app.services import datasets, jobs, lineage


def receipt(session: Session, job_id: str) -> Receipt:
    """The job's receipt; NotFound for an unknown id."""
    job = lineage.load(session, job_id, weights=True)
    environments = [Environment.model_validate(e) for e in job.environment or []]
    return Receipt(
        job_id=job.id,
        inputs=inputs_of(job),
        environment=environments[0] if environments else None,
        resumed_in=environments[1:],
        result=ReceiptResult(
            status=job.status,
            epochs=job.epoch,
            weights_sha256=weights_sha256(job.weights) if job.weights is not None else None,
            final_metrics=job.final_metrics,
            attempts=job.attempts,
            finished_at=job.finished_at,
        ),
        replay=jobs.replay_view(job),
    )


def inputs_of(job: Job) -> ReceiptInputs:
    """What determines a job's result, every default resolved."""
    spec = JobSpec.stored(job.network, job.training, job.initial_weights)
    network, config = spec.engine()
    training = spec.training.model_dump()
    seed = config.seed
    from_state = job.from_mode == "continue"
    return ReceiptInputs(
        dataset_id=job.dataset_id,
        dataset_sha256=job.dataset_sha256,
        task=job.task,
        classes=job.classes,
        network=spec.network.model_dump(),
        layer_activations=network.layer_activations,
        training=training,
        seeds=Seeds(
            seed=seed,
            initialization=None if job.initial_weights is not None or from_state else seed,
            validation_split=seed if config.validation_fraction > 0 else None,
            shuffle=seed if config.shuffle else None,
        ),
        dtype=config.dtype,
        initial_weights_sha256=_json_sha256(job.initial_weights)
        if job.initial_weights is not None
        else None,
        parent_id=job.parent_id,
        from_mode=job.from_mode,  # type: ignore[arg-type]
        start_state_sha256=job.start_state_sha256,
        start_epoch=job.start_epoch or 0,
    )


def _json_sha256(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def weights_sha256(npz: bytes) -> str:
    """Digest of a weights ``.npz`` (as ``GET /v1/jobs/{id}/weights?format=npz`` sends):
    ``weights_0``, ``biases_0``, ``weights_1``, ... in Nielsen's orientation."""
    net = Network.from_npz(npz)
    arrays: list[tuple[str, Any]] = []
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        arrays += [(f"weights_{i}", w), (f"biases_{i}", b)]
    return arrays_sha256(arrays)


# -- replays ----------------------------------------------------------------------------


def replay(session: Session, settings: Settings, job_id: str) -> Job:
    """Queue a job with the same inputs as ``job_id`` (a succeeded job)."""
    original = lineage.load(session, job_id)
    if original.status != JobStatus.succeeded.value:
        raise Conflict(
            f"job {job_id!r} is {original.status}; only a succeeded job can be replayed "
            "(a run stopped by a cancel, a time limit or a sweep ended at a point a replay "
            "would not reproduce)"
        )
    if original.dataset_id is None:
        raise Conflict(f"job {job_id!r}'s dataset was deleted; a replay needs the same data")
    dataset = datasets.get(session, original.dataset_id)
    start = Start(replay_of=original.id, parent_id=original.parent_id, from_mode=original.from_mode)
    if original.from_mode == "continue":
        start = _continued_start(session, original, start)
    Limits.from_settings(settings).check_job(
        list(original.network["sizes"]), original.epochs, jobs.queued_count(session)
    )
    return jobqueue.submit(
        session,
        dataset=dataset,
        network=original.network,
        training=original.training,
        initial_weights=original.initial_weights,
        max_attempts=settings.max_attempts,
        start=start,
    )


def _continued_start(session: Session, original: Job, start: Start) -> Start:
    """A replay of a ``continue`` job starts from the same parent state."""
    assert original.parent_id is not None
    try:
        parent = lineage.load(session, original.parent_id, weights=True, checkpoint=True)
    except NotFound:
        raise Conflict(
            f"job {original.id!r} continues job {original.parent_id!r}, which was deleted; "
            "the training state it started from went with it"
        ) from None
    state = lineage.final_state(parent)
    if state is None or lineage.state_sha256(state) != original.start_state_sha256:
        raise Conflict(
            f"job {original.parent_id!r} no longer holds the training state job "
            f"{original.id!r} started from"
        )
    return Start(
        checkpoint=parent.checkpoint,
        epoch=state.epoch,
        metrics_from=original.id,
        parent_id=start.parent_id,
        from_mode=start.from_mode,
        replay_of=start.replay_of,
        state_sha256=original.start_state_sha256,
    )


def verdict(session: Session, job_id: str, weights: bytes) -> dict[str, Any]:
    """Compare replay ``job_id`` (its metrics recorded, ``weights`` its final weights)
    with the job it replays; the ``replay`` value the worker stores with the result."""
    job = lineage.load(session, job_id)
    assert job.replay_of is not None
    try:
        original = lineage.load(session, job.replay_of, weights=True)
    except NotFound:
        return ReplayVerdict(
            of=job.replay_of, first_difference="the replayed job was deleted"
        ).model_dump()
    first: str | None = None
    weights_identical, max_diff = False, None
    if original.weights is None:
        first = "the replayed job has no weights"
    else:
        weights_identical, max_diff, first = _compare_weights(
            Network.from_npz(original.weights), Network.from_npz(weights)
        )
    metrics_identical, metrics_first = _compare_metrics(session, original.id, job.id)
    first = first or metrics_first
    return ReplayVerdict(
        of=original.id,
        matches=weights_identical and metrics_identical,
        max_abs_diff=max_diff,
        weights_identical=weights_identical,
        metrics_identical=metrics_identical,
        first_difference=first,
        differences=differences(original, job),
    ).model_dump()


def _compare_weights(a: Network, b: Network) -> tuple[bool, float | None, str | None]:
    if a.sizes != b.sizes or a.dtype != b.dtype:
        what = f"{a.sizes} {a.dtype} vs {b.sizes} {b.dtype}"
        return False, None, f"weights: different networks ({what})"
    identical, largest, first = True, 0.0, None
    for i, (p, q) in enumerate(zip(a.params, b.params, strict=True)):
        diff = float(np.max(np.abs(p.astype(np.float64) - q.astype(np.float64))))
        largest = max(largest, diff)
        if p.tobytes() != q.tobytes():
            identical = False
            first = first or f"weights: layer {i + 1} differs (max |diff| {diff:.3g})"
    return identical, largest, first


def _compare_metrics(session: Session, original_id: str, replay_id: str) -> tuple[bool, str | None]:
    """Every metric row but its wall time (``seconds``)."""
    rows = {}
    for job_id in (original_id, replay_id):
        found = session.scalars(
            select(Metric).where(Metric.job_id == job_id).order_by(Metric.epoch)
        ).all()
        rows[job_id] = [MetricRow.model_validate(r).model_dump(exclude={"seconds"}) for r in found]
    old, new = rows[original_id], rows[replay_id]
    if len(old) != len(new):
        return False, f"metrics: {len(new)} epochs recorded, the original has {len(old)}"
    for a, b in zip(old, new, strict=True):
        for key in a:
            if a[key] != b[key]:
                return False, f"metrics: epoch {a['epoch']} {key} {b[key]!r} vs {a[key]!r}"
    return True, None


def differences(original: Job, replay_job: Job) -> list[str]:
    """The receipt fields (inputs and environment) whose values differ, dotted."""
    a, b = _comparable(original), _comparable(replay_job)
    return sorted(key for key in a.keys() | b.keys() if a.get(key) != b.get(key))


def _comparable(job: Job) -> dict[str, Any]:
    environments = job.environment or []
    doc = {
        "inputs": inputs_of(job).model_dump(exclude={"start_epoch"}),
        "environment": environments[0] if environments else None,
        "resumed_in": environments[1:],
    }
    return _flatten(doc)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}
