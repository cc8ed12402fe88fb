"""Jobs: create one (every check against its dataset and the limits), read, list, cancel,
delete; its metrics, trained weights and predictions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from app import jobqueue
from app.config import Settings
from app.db.models import Dataset, Job, JobStatus, Metric
from app.errors import Conflict, InvalidInput, NotFound
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
    start = None
    if request.from_job is not None:
        derived = lineage.resolve(session, request)
        spec, dataset, start = derived.spec, derived.dataset, derived.start
    else:
        if request.dataset_id is not None:
            dataset = datasets.get(session, request.dataset_id)
        else:
            dataset = datasets.find_by_name(session, str(request.dataset_name))
        spec = request.spec()
    Limits.from_settings(settings).check_job(
        spec.network.sizes, spec.training.epochs, queued_count(session)
    )
    check_against(spec, dataset)
    return jobqueue.submit(
        session,
        dataset=dataset,
        **spec.columns(),
        max_attempts=settings.max_attempts,
        start=start,
    )


def check_against(spec: JobSpec, dataset: Dataset) -> None:
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
            f"sizes[-1] is {sizes[-1]} but the dataset has {dataset.n_outputs} outputs",
        )
    config.check_split(dataset.n_samples)
    layers = spec.initial_layers()
    if layers is not None:
        Network.from_layers(network, layers, dtype=config.dtype)


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
