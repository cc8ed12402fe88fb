"""Jobs: create one (every check against its dataset and the limits), read, list, cancel,
delete; its metrics, trained weights (final, or a snapshot of an epoch) and predictions."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from app import jobqueue
from app.config import Settings
from app.db.models import Dataset, Job, JobStatus, Metric, WeightSnapshot
from app.errors import Conflict, InvalidInput, NotFound, SnapshotNotFound
from app.limits import Limits
from app.nn import Network, predict_labels
from app.schemas.jobs import Job as JobView
from app.schemas.jobs import (
    JobCreate,
    JobSpec,
    MetricRow,
    MetricsPage,
    PredictResponse,
    Progress,
)
from app.schemas.provenance import ReplayVerdict
from app.services import datasets, lineage
from app.services.arrays import float_rows


def create(session: Session, settings: Settings, request: JobCreate) -> Job:
    """Queue a job after checking its spec against the dataset and the limits; nothing is
    stored when a check fails. With ``from_job``, the parent fills in what the request
    leaves out and says where training starts (app/services/lineage.py)."""
    if request.from_job is not None:
        derived = lineage.resolve(session, request)
        return submit(session, settings, derived.spec, derived.dataset, start=derived.start)
    dataset = datasets.resolve(session, request.dataset_id, request.dataset_name)
    return submit(session, settings, request.spec(), dataset)


def submit(
    session: Session,
    settings: Settings,
    spec: JobSpec,
    dataset: Dataset,
    *,
    sweep_id: str | None = None,
    trial: int | None = None,
    owner: str | None = None,
    commit: bool = True,
    start: jobqueue.Start | None = None,
) -> Job:
    """Every check of a new job (the limits, the spec against the dataset), then queue it;
    a sweep's trials come through here too (``commit=False``: in the sweep's transaction),
    and a job that starts from another (``start``: continue, warm start, replay).
    Raises LimitExceeded, QueueFull, SpecError or InvalidInput, storing nothing."""
    Limits.from_settings(settings).check_job(
        spec.network.sizes,
        spec.training.epochs,
        queued_count(session),
        spec.training.snapshot_every,
    )
    check_against(session, spec, dataset)
    return jobqueue.submit(
        session,
        dataset=dataset,
        **spec.columns(),
        max_attempts=settings.max_attempts,
        sweep_id=sweep_id,
        trial=trial,
        owner=owner,
        commit=commit,
        start=start,
    )


def check_against(session: Session, spec: JobSpec, dataset: Dataset) -> None:
    """Raise SpecError or InvalidInput (422) unless ``spec`` can train on ``dataset``."""
    network, config = spec.engine()
    sizes = network.sizes
    if sizes[0] != dataset.n_features:
        raise InvalidInput(
            "network.sizes",
            f"sizes[0] is {sizes[0]} but the dataset has {dataset.n_features} features",
        )
    if sizes[-1] != dataset.n_outputs:
        raise InvalidInput(
            "network.sizes",
            f"sizes[-1] is {sizes[-1]} but the dataset has {dataset.n_outputs} outputs"
            + _other_task_hint(session, dataset, sizes[-1]),
        )
    config.check_split(dataset.n_samples)
    layers = spec.initial_layers()
    if layers is not None:
        Network.from_layers(network, layers, dtype=config.dtype)


def _other_task_hint(session: Session, dataset: Dataset, outputs: int) -> str:
    """When a regression dataset's one target column holds class numbers that a
    classifier with ``outputs`` outputs would fit: how to get that dataset."""
    if dataset.task != "regression" or dataset.n_outputs != 1 or outputs < 2:
        return ""
    values = datasets.arrays(session, dataset.id).targets[:, 0]
    whole = bool(np.all((values >= 0) & (values == np.round(values))))
    classes = len(np.unique(values)) if whole else 0
    if classes != outputs:
        return ""
    return (
        f" (task 'regression'); its target holds {classes} whole-number classes: upload it "
        "again with task=classification (or task=auto) for one output per class"
    )


def queued_count(session: Session) -> int:
    """How many jobs wait in the queue now."""
    count = session.scalar(
        select(func.count()).select_from(Job).where(Job.status == JobStatus.queued.value)
    )
    return int(count or 0)


def get(session: Session, job_id: str, *, weights: bool = False) -> Job:
    """One job by id (with its weights blob if ``weights``), or NotFound."""
    stmt = select(Job).where(Job.id == job_id)
    if weights:
        stmt = stmt.options(undefer(Job.weights))
    job = session.scalars(stmt).first()
    if job is None:
        raise NotFound("job", job_id)
    return job


def view(session: Session, row: Job) -> JobView:
    """The API's view of a job row, with an ETA while it runs."""
    eta = None
    if row.status == JobStatus.running.value:
        mean = session.scalar(select(func.avg(Metric.seconds)).where(Metric.job_id == row.id))
        if mean is not None:
            eta = round(float(mean) * max(row.epochs - row.epoch, 0), 3)
    return JobView(
        id=row.id,
        status=row.status,
        dataset_id=row.dataset_id,
        network=row.network,
        training=row.training,
        progress=Progress(epoch=row.epoch, epochs=row.epochs, eta_seconds=eta),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        attempts=row.attempts,
        cancel_requested=row.cancel_requested,
        final_metrics=row.final_metrics,
        sweep_id=row.sweep_id,
        trial=row.trial,
        parent_id=row.parent_id,
        from_mode=row.from_mode,  # type: ignore[arg-type]
        replay=replay_view(row),
    )


def replay_view(row: Job) -> ReplayVerdict | None:
    """A job's ``replay`` field: null unless it is a replay; the verdict once stored."""
    if row.replay_of is None:
        return None
    if row.replay is not None:
        return ReplayVerdict.model_validate(row.replay)
    return ReplayVerdict(of=row.replay_of)


def page(
    session: Session, limit: int, offset: int, status: str | None = None
) -> tuple[list[Job], int]:
    """A page of jobs (newest first), optionally of one status only, and the total."""
    where = [Job.status == status] if status else []
    total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    rows = session.scalars(
        select(Job)
        .where(*where)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def cancel(session: Session, job_id: str) -> Job:
    """Cancel a queued job at once; flag a running one (its worker stops within
    ``cancel_poll_seconds``). Conflict when it has already finished."""
    get(session, job_id)  # NotFound unless the caller may see it (app.db.ownership)
    session.rollback()  # end the read; the job is read afresh below
    jobqueue.request_cancel(session, job_id)
    return get(session, job_id)


def remove(session: Session, job_id: str) -> None:
    """Delete a job and its results; a running job stops at its next lease check."""
    get(session, job_id)  # NotFound unless the caller may see it (app.db.ownership)
    session.rollback()
    jobqueue.delete_job(session, job_id)


def metrics_page(session: Session, job_id: str, after: int, limit: int) -> MetricsPage:
    """Metrics rows with ``epoch > after``, at most ``limit``, in epoch order."""
    job = get(session, job_id)
    rows = session.scalars(
        select(Metric)
        .where(Metric.job_id == job_id, Metric.epoch > after)
        .order_by(Metric.epoch)
        .limit(limit)
    ).all()
    items = [MetricRow.model_validate(r) for r in rows]
    next_after = items[-1].epoch if len(items) == limit else None
    return MetricsPage(job_id=job_id, status=job.status, items=items, next_after=next_after)


def trained(session: Session, job_id: str) -> tuple[Job, Network]:
    """A job and its trained network; Conflict while it has no weights."""
    job = get(session, job_id, weights=True)
    if job.weights is None:
        raise Conflict(f"job {job_id!r} has no weights yet (status: {job.status})")
    return job, Network.from_npz(job.weights)


def weights_npz(session: Session, job_id: str, epoch: int | None = None) -> bytes:
    """A job's weights as ``.npz`` bytes: its final (or reached) weights, or with
    ``epoch`` the snapshot taken after that epoch. Conflict while a job has no weights;
    SnapshotNotFound (404) when there is no snapshot at ``epoch``."""
    if epoch is not None:
        return snapshot(session, get(session, job_id), epoch)
    job = get(session, job_id, weights=True)
    if job.weights is None:
        raise Conflict(f"job {job_id!r} has no weights yet (status: {job.status})")
    return job.weights


def snapshot(session: Session, job: Job, epoch: int) -> bytes:
    """The weights snapshot of ``job`` (a row the caller may see) after ``epoch``."""
    blob = session.scalar(
        select(WeightSnapshot.weights).where(
            WeightSnapshot.job_id == job.id, WeightSnapshot.epoch == epoch
        )
    )
    if blob is not None:
        return bytes(blob)
    every = job.training.get("snapshot_every")
    if every is None:
        raise SnapshotNotFound(
            job.id,
            epoch,
            f"job {job.id!r} keeps no weight snapshots (its training.snapshot_every is "
            "null); its final weights are at /weights without ?epoch",
        )
    low, high = session.execute(
        select(func.min(WeightSnapshot.epoch), func.max(WeightSnapshot.epoch)).where(
            WeightSnapshot.job_id == job.id
        )
    ).one()
    held = f"epochs {low} to {high}" if low is not None else "none yet"
    raise SnapshotNotFound(
        job.id,
        epoch,
        f"job {job.id!r} has no weight snapshot at epoch {epoch}: it keeps one every "
        f"{every} epochs (snapshots so far: {held})",
    )


def predict(session: Session, job_id: str, inputs: list[list[float]]) -> PredictResponse:
    """The trained network's outputs for ``inputs``, and class labels for classifiers."""
    job, net = trained(session, job_id)
    x = float_rows("inputs", inputs, net.sizes[0])
    outputs = net.forward(x).astype(float)
    labels = None
    if job.task == "classification":
        classes = job.classes
        labels = [classes[int(i)] if classes else str(int(i)) for i in predict_labels(outputs)]
    return PredictResponse(outputs=outputs.tolist(), labels=labels)
