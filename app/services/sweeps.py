"""Sweeps: create one (every check, then its first trials), read, list, cancel and delete
it, list its trials; and the decisions taken while it runs (docs/sweeps.md).

Decisions go through Optuna (``app.services.search``) on a study rebuilt from the
database for each one:

- :func:`advance` tells Optuna the trials whose job has ended, asks it for new trials
  while fewer than ``parallelism`` are queued or running and fewer than ``max_trials``
  exist, and ends the sweep once every trial has ended. The API calls it when it
  creates a sweep, a worker when a trial's job ends, and every worker's periodic tick
  for the sweeps that need it (:func:`advance_due`: a worker killed between a job's end
  and its advance, a trial deferred by a full queue).
- :func:`should_prune` reports a trial's epoch to the pruner (the worker, after every
  epoch but the last, before it records the epoch).

Each decision is one transaction whose first statement bumps ``sweeps.revision``: the
sweep's row lock on PostgreSQL, the database's write lock on SQLite, held to the commit.
Decisions for one sweep are serialised across processes and hosts, and a trial's row,
its job and Optuna's updated record commit together or not at all: a crash anywhere
leaves either the state before a decision or after it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Table, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from app import jobqueue
from app.config import Settings
from app.db import notify
from app.db.models import (
    ACTIVE_STATUSES,
    ACTIVE_SWEEP_STATUSES,
    Dataset,
    Job,
    JobStatus,
    Metric,
    Sweep,
    SweepStatus,
    SweepTrial,
)
from app.db.types import utcnow
from app.errors import Conflict, InvalidInput, LimitExceeded, NotFound, QueueFull
from app.jobqueue import Lease
from app.limits import Limits
from app.nn import SpecError
from app.schemas.jobs import JobSpec, NetworkSpec, TrainingConfig
from app.schemas.sweeps import DEFAULT_MAX_TRIALS, Best, SweepCreate, Trial, TrialList
from app.schemas.sweeps import Sweep as SweepView
from app.services import datasets, jobs, search
from app.services.search import COMPLETE, FAIL, PRUNED, RUNNING, SweepStudy, TrialRecord

sweeps_table: Table = Sweep.__table__  # type: ignore[assignment]
SECTIONS: dict[str, type[BaseModel]] = {"network": NetworkSpec, "training": TrainingConfig}


# -- create -------------------------------------------------------------------------------


def create(session: Session, settings: Settings, request: SweepCreate) -> Sweep:
    """Check everything, store the sweep and ask for its first trials, in one
    transaction; nothing is stored when a check fails."""
    dataset = datasets.resolve(session, request.dataset_id, request.dataset_name)
    limits = Limits.from_settings(settings)
    check_space(request)
    sampler = request.sampler.model_dump(exclude_none=True)
    sampler.setdefault("seed", random.SystemRandom().randrange(2**32))
    space = {path: dim.model_dump(exclude_none=True) for path, dim in request.space.items()}
    max_trials = _max_trials(request, space, limits)
    limits.check_sweep(max_trials, request.parallelism)
    objective = request.objective.model_dump()
    _check_objective(request, dataset)
    pruner = request.pruner.model_dump(exclude_none=True)
    try:
        search.make_pruner(pruner, _fixed_epochs(space, request.training.epochs))
    except ValueError as exc:
        raise InvalidInput("pruner", str(exc)) from None
    base = JobSpec(network=request.network, training=request.training)
    limits.check_job(base.network.sizes, base.training.epochs, jobs.queued_count(session))
    jobs.check_against(session, base, dataset)
    row = Sweep(
        name=request.name,
        status=SweepStatus.queued.value,
        dataset_id=dataset.id,
        network=request.network.model_dump(),
        training=request.training.model_dump(),
        space=space,
        sampler=sampler,
        pruner=pruner,
        objective=objective,
        max_trials=max_trials,
        parallelism=request.parallelism,
        revision=0,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()  # the first write: from here on this transaction holds the lock
    _step(session, settings, row)
    session.commit()
    notify.send(session, notify.QUEUED)  # its first trials wait in the queue
    return row


def check_space(request: SweepCreate) -> None:
    """InvalidInput naming ``space.<path>`` unless each path names a field of the job
    spec and every value its dimension can produce is a valid value of that field."""
    bases = {"network": request.network.model_dump(), "training": request.training.model_dump()}
    for path, dim in request.space.items():
        where = f"space.{path}"
        section, _, name = path.partition(".")
        model = SECTIONS.get(section)
        if model is None or name not in model.model_fields:
            fields = ", ".join(f"{s}.{f}" for s, m in SECTIONS.items() for f in m.model_fields)
            raise InvalidInput(where, f"unknown path; a path is one of {fields}")
        if dim.type == "choice":
            assert dim.values is not None
            for i, value in enumerate(dim.values):
                problem = _field_problem(model, bases[section], name, value)
                if problem:
                    raise InvalidInput(where, f"values[{i}] = {value!r}: {problem[1]}")
            continue
        assert dim.low is not None and dim.high is not None
        number: type = int if dim.type == "int" else float
        for bound in ("low", "high"):
            problem = _field_problem(model, bases[section], name, number(getattr(dim, bound)))
            if problem is None:
                continue
            kind, message = problem
            if kind in ("int_type", "int_from_float", "literal_error", "list_type", "bool_type"):
                gives = "whole numbers" if number is int else "floats"
                raise InvalidInput(
                    where, f"{dim.type} gives {gives}, which {path} does not take ({message})"
                )
            raise InvalidInput(where, f"{bound} {getattr(dim, bound)}: {message}")


def _field_problem(
    model: type[BaseModel], base: dict[str, Any], name: str, value: Any
) -> tuple[str, str] | None:
    """(error type, message) when ``value`` is not a valid ``name`` of ``model`` (strict:
    no coercion, so a trial gets exactly the value sampled), else None."""
    try:
        model.model_validate({**base, name: value}, strict=True)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e["loc"][:1] == (name,)] or exc.errors()
        return str(errors[0]["type"]), str(errors[0]["msg"])
    return None


def _max_trials(request: SweepCreate, space: dict[str, Any], limits: Limits) -> int:
    if request.sampler.kind != "grid":
        return request.max_trials or DEFAULT_MAX_TRIALS
    for path, dim in space.items():
        if dim["type"] != "choice":
            raise InvalidInput(
                f"space.{path}",
                f"the grid sampler takes only choice dimensions; this one is {dim['type']}",
            )
    size = search.grid_size(space)
    assert size is not None
    if size > limits.max_sweep_trials:
        raise LimitExceeded(
            f"space: the grid has {size:,} points; the limit is {limits.max_sweep_trials:,} "
            "trials (BACKPROP_MAX_SWEEP_TRIALS)",
            limit="max_sweep_trials",
            value=size,
            maximum=limits.max_sweep_trials,
        )
    if request.max_trials is not None and request.max_trials > size:
        raise InvalidInput(
            "max_trials",
            f"{request.max_trials} is more than the grid's {size} points (a grid sweep runs "
            "each point once)",
        )
    return request.max_trials or size


def _check_objective(request: SweepCreate, dataset: Dataset) -> None:
    metric = request.objective.metric
    if metric.endswith("accuracy") and dataset.task != "classification":
        raise InvalidInput(
            "objective.metric",
            f"{metric} needs a classification dataset; dataset {dataset.id!r} is {dataset.task}",
        )
    if not metric.startswith("validation"):
        return
    dim = request.space.get("training.validation_fraction")
    lowest: Any = request.training.validation_fraction
    if dim is not None:
        lowest = min(dim.values or [0]) if dim.type == "choice" else dim.low
    if not lowest or lowest <= 0:
        raise InvalidInput(
            "objective.metric",
            f"{metric} needs a validation split in every trial: set "
            "training.validation_fraction above 0",
        )


def _fixed_epochs(space: dict[str, Any], epochs: int) -> int | None:
    return None if "training.epochs" in space else epochs


# -- reading ------------------------------------------------------------------------------


def get(session: Session, sweep_id: str) -> Sweep:
    """One sweep by id, or NotFound (also for another owner's)."""
    sweep = session.scalars(select(Sweep).where(Sweep.id == sweep_id)).first()
    if sweep is None:
        raise NotFound("sweep", sweep_id)
    return sweep


def page(session: Session, limit: int, offset: int) -> tuple[list[Sweep], int]:
    """A page of sweeps, newest first, and the total."""
    total = session.scalar(select(func.count()).select_from(Sweep)) or 0
    rows = session.scalars(
        select(Sweep).order_by(Sweep.created_at.desc(), Sweep.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def view(session: Session, row: Sweep) -> SweepView:
    """The API's view of a sweep: its trials' jobs per status and its best trial."""
    counts = {
        str(status): int(n)
        for status, n in session.execute(
            select(Job.status, func.count()).where(Job.sweep_id == row.id).group_by(Job.status)
        ).all()
    }
    status = row.status
    if status in ACTIVE_SWEEP_STATUSES:
        started = any(s != JobStatus.queued.value for s in counts)
        status = SweepStatus.running.value if started else SweepStatus.queued.value
    return SweepView(
        id=row.id,
        name=row.name,
        status=status,  # type: ignore[arg-type]
        dataset_id=row.dataset_id,
        network=row.network,
        training=row.training,
        space=row.space,
        sampler=row.sampler,
        pruner=row.pruner,
        objective=row.objective,
        max_trials=row.max_trials,
        parallelism=row.parallelism,
        counts=counts,
        best=_best(session, row),
        created_at=row.created_at,
        finished_at=row.finished_at,
        error=row.error,
    )


def _best(session: Session, row: Sweep) -> Best | None:
    value = SweepTrial.value
    order = value.desc() if row.objective["direction"] == "maximize" else value.asc()
    best = session.scalars(
        select(SweepTrial)
        .where(
            SweepTrial.sweep_id == row.id,
            SweepTrial.state == COMPLETE,
            SweepTrial.value.is_not(None),
        )
        .order_by(order, SweepTrial.number)
        .limit(1)
    ).first()
    if best is None or best.value is None:
        return None
    job_id = session.scalar(select(Job.id).where(Job.sweep_id == row.id, Job.trial == best.number))
    params = search.values_of(row.space, best.params)
    return Best(job_id=job_id, number=best.number, params=params, value=best.value)


def trial_list(session: Session, sweep_id: str) -> TrialList:
    """Every trial of a sweep with its params, job, status, value and epochs trained."""
    sweep = get(session, sweep_id)
    items, _ = _trial_items(session, sweep)
    return TrialList(sweep_id=sweep.id, items=items)


@dataclass(frozen=True)
class PlotData:
    """What the sweep's plots draw: the sweep, its trials, and each trial's objective
    per epoch (by trial number)."""

    sweep: SweepView
    trials: list[Trial]
    curves: dict[int, dict[int, float | None]]


def plot_data(session: Session, sweep_id: str) -> PlotData:
    """The sweep, its trials and their curves, read in one transaction."""
    with session.begin():
        sweep = get(session, sweep_id)
        items, curves = _trial_items(session, sweep)
        return PlotData(view(session, sweep), items, curves)


def _trial_items(
    session: Session, sweep: Sweep
) -> tuple[list[Trial], dict[int, dict[int, float | None]]]:
    items = []
    curves: dict[int, dict[int, float | None]] = {}
    for t in _trials(session, sweep):
        job, curve = t.job, t.record.intermediate
        curves[t.row.number] = dict(curve)
        items.append(
            Trial(
                number=t.row.number,
                job_id=job.id if job else None,
                params=search.values_of(sweep.space, t.row.params),
                status=job.status if job else None,  # type: ignore[arg-type]
                value=t.row.value,
                latest=curve[max(curve)] if curve else None,
                epochs=job.epoch if job else 0,
                pruned_epoch=t.row.pruned_epoch,
                error=job.error if job else "its job was deleted",
            )
        )
    return items, curves


@dataclass
class _JobInfo:
    id: str
    status: str
    epoch: int
    final_metrics: dict[str, Any] | None
    error: str | None


@dataclass
class _Trial:
    """A trial row, its job (None once deleted) and Optuna's view of it."""

    row: SweepTrial
    job: _JobInfo | None
    record: TrialRecord


def _trials(session: Session, sweep: Sweep) -> list[_Trial]:
    """The sweep's trials by number, each with its job and its objective per epoch."""
    rows = session.scalars(
        select(SweepTrial)
        .where(SweepTrial.sweep_id == sweep.id)
        .order_by(SweepTrial.number)
        .execution_options(populate_existing=True)
    ).all()
    found = session.execute(
        select(Job.trial, Job.id, Job.status, Job.epoch, Job.final_metrics, Job.error).where(
            Job.sweep_id == sweep.id
        )
    ).all()
    by_trial = {r.trial: _JobInfo(r.id, r.status, r.epoch, r.final_metrics, r.error) for r in found}
    column = getattr(Metric, sweep.objective["metric"])
    curves: dict[int, dict[int, float]] = {}
    for number, epoch, value in session.execute(
        select(Job.trial, Metric.epoch, column)
        .join(Job, Job.id == Metric.job_id)
        .where(Job.sweep_id == sweep.id)
    ).all():
        curves.setdefault(number, {})[epoch] = value
    return [
        _Trial(
            row=row,
            job=by_trial.get(row.number),
            record=TrialRecord(
                number=row.number,
                params=dict(row.params),
                state=row.state,
                value=row.value,
                system_attrs=dict(row.system_attrs),
                intermediate=dict(sorted(curves.get(row.number, {}).items())),
            ),
        )
        for row in rows
    ]


def _study(sweep: Sweep, trials: list[_Trial]) -> SweepStudy:
    return SweepStudy(
        sweep.id,
        direction=sweep.objective["direction"],
        sampler=sweep.sampler,
        pruner=sweep.pruner,
        space=sweep.space,
        epochs=_fixed_epochs(sweep.space, int(sweep.training["epochs"])),
        trials=[t.record for t in trials],
    )


# -- decisions ----------------------------------------------------------------------------


def _lock(session: Session, sweep_id: str) -> bool:
    """The decision's first statement: bump the revision (holding the sweep's lock until
    the commit). False when there is no such sweep."""
    row = session.execute(
        update(sweeps_table)
        .where(sweeps_table.c.id == sweep_id)
        .values(revision=sweeps_table.c.revision + 1)
        .returning(sweeps_table.c.id)
    ).first()
    if row is None:
        session.rollback()
    return row is not None


def _load(session: Session, sweep_id: str) -> Sweep:
    return session.scalars(
        select(Sweep).where(Sweep.id == sweep_id).execution_options(populate_existing=True)
    ).one()


def advance(session: Session, settings: Settings, sweep_id: str) -> bool:
    """One decision step for the sweep (see the module docstring); idempotent. False when
    the sweep does not exist (any more)."""
    if not _lock(session, sweep_id):
        return False
    try:
        _step(session, settings, _load(session, sweep_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    notify.send(session, notify.QUEUED)  # a next trial may wait in the queue
    return True


def _step(session: Session, settings: Settings, sweep: Sweep) -> None:
    """Tell the ended trials, ask for new ones, end the sweep when it is done."""
    trials = _trials(session, sweep)
    study: SweepStudy | None = None
    for t in trials:
        if t.row.state == RUNNING and (t.job is None or t.job.status not in ACTIVE_STATUSES):
            study = study or _study(sweep, trials)
            state, value = _outcome(sweep, t)
            _store(t, study.tell(t.row.number, state, value))
    active = sum(1 for t in trials if t.job is not None and t.job.status in ACTIVE_STATUSES)
    if sweep.status in ACTIVE_SWEEP_STATUSES:
        dataset = session.get(Dataset, sweep.dataset_id) if sweep.dataset_id else None
        while len(trials) < sweep.max_trials and active < sweep.parallelism:
            if dataset is None:
                _end(sweep, SweepStatus.failed, "the sweep's dataset was deleted")
                break
            study = study or _study(sweep, trials)
            created = _new_trial(session, settings, sweep, dataset, study)
            if created is None:
                break  # the queue is full: a later advance (a worker's tick) retries
            trials.append(created)
            if created.job is not None and created.job.status in ACTIVE_STATUSES:
                active += 1
    started = any(t.job is None or t.job.status != JobStatus.queued.value for t in trials)
    if sweep.status == SweepStatus.queued.value and started:
        sweep.status = SweepStatus.running.value
    if sweep.finished_at is not None or active or any(t.row.state == RUNNING for t in trials):
        return
    if sweep.status == SweepStatus.cancelled.value:
        sweep.finished_at = utcnow()
    elif len(trials) >= sweep.max_trials:
        if any(t.row.state == COMPLETE for t in trials):
            _end(sweep, SweepStatus.succeeded, None)
        else:
            first = next((t.job.error for t in trials if t.job and t.job.error), None)
            _end(
                sweep,
                SweepStatus.failed,
                f"none of its {len(trials)} trials completed"
                + (f"; the first error: {first}" if first else ""),
            )


def _end(sweep: Sweep, status: SweepStatus, error: str | None) -> None:
    sweep.status = status.value
    sweep.error = error
    sweep.finished_at = utcnow()


def _outcome(sweep: Sweep, t: _Trial) -> tuple[str, float | None]:
    """What to tell Optuna of an ended trial: COMPLETE with its last epoch's objective,
    PRUNED (Optuna keeps its last reported value), or FAIL."""
    job = t.job
    if job is None:
        return FAIL, None
    if job.status == JobStatus.succeeded.value:
        return COMPLETE, (job.final_metrics or {}).get(sweep.objective["metric"])
    if job.status == JobStatus.pruned.value:
        return PRUNED, None
    return FAIL, None


def _store(t: _Trial, record: TrialRecord) -> None:
    t.row.state = record.state
    t.row.value = record.value
    if record.system_attrs != t.row.system_attrs:
        t.row.system_attrs = record.system_attrs
    t.record.state, t.record.value = record.state, record.value
    t.record.system_attrs = record.system_attrs


def _new_trial(
    session: Session, settings: Settings, sweep: Sweep, dataset: Dataset, study: SweepStudy
) -> _Trial | None:
    """Ask for the next trial and store it with its job (a failed one when its params
    make a job the service refuses); None when the queue is full."""
    record = study.ask()
    values = search.values_of(sweep.space, record.params)
    network, training = search.apply(sweep.network, sweep.training, values)
    error: str | None = None
    link: dict[str, Any] = {"sweep_id": sweep.id, "trial": record.number, "owner": sweep.owner}
    try:
        spec = JobSpec.stored(network, training)
        job = jobs.submit(session, settings, spec, dataset, commit=False, **link)
    except QueueFull:
        return None
    except ValidationError as exc:
        e = exc.errors()[0]
        error = f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
    except LimitExceeded as exc:
        error = exc.detail
    except (SpecError, InvalidInput) as exc:
        error = str(exc)
    if error is not None:
        job = jobqueue.submit(
            session,
            dataset=dataset,
            network=network,
            training=training,
            initial_weights=None,
            max_attempts=settings.max_attempts,
            error=error,
            commit=False,
            **link,
        )
        record = study.tell(record.number, FAIL)
    row = SweepTrial(
        sweep_id=sweep.id,
        number=record.number,
        params=record.params,
        state=record.state,
        value=record.value,
        system_attrs=record.system_attrs,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    info = _JobInfo(job.id, job.status, job.epoch, job.final_metrics, job.error)
    return _Trial(row=row, job=info, record=record)


def after_job(session: Session, settings: Settings, job_id: str) -> None:
    """A job has ended: if it is a trial, advance its sweep (the worker calls this)."""
    sweep_id = session.scalar(select(Job.sweep_id).where(Job.id == job_id))
    session.rollback()
    if sweep_id is not None:
        advance(session, settings, sweep_id)


def advance_due(session: Session, settings: Settings) -> int:
    """Advance every sweep with a decision pending: a trial whose job ended but which
    Optuna was not told of, room for more trials, or a cancel to complete. Returns how
    many were advanced (a worker's periodic tick)."""
    n_trials = (
        select(func.count())
        .select_from(SweepTrial)
        .where(SweepTrial.sweep_id == Sweep.id)
        .scalar_subquery()
    )
    n_active = (
        select(func.count())
        .select_from(Job)
        .where(Job.sweep_id == Sweep.id, Job.status.in_(ACTIVE_STATUSES))
        .scalar_subquery()
    )
    job_active = exists().where(
        Job.sweep_id == SweepTrial.sweep_id,
        Job.trial == SweepTrial.number,
        Job.status.in_(ACTIVE_STATUSES),
    )
    untold = exists().where(
        SweepTrial.sweep_id == Sweep.id, SweepTrial.state == RUNNING, ~job_active
    )
    due = session.scalars(
        select(Sweep.id).where(
            Sweep.finished_at.is_(None),
            or_(
                and_(
                    Sweep.status.in_(ACTIVE_SWEEP_STATUSES),
                    n_trials < Sweep.max_trials,
                    n_active < Sweep.parallelism,
                ),
                untold,
                and_(Sweep.status == SweepStatus.cancelled.value, n_active == 0),
            ),
        )
    ).all()
    session.rollback()
    for sweep_id in due:
        advance(session, settings, sweep_id)
    return len(due)


@dataclass(frozen=True)
class TrialContext:
    """What the worker needs to report a trial's epochs to its sweep's pruner."""

    sweep_id: str
    number: int
    metric: str
    epochs: int


def trial_context(session: Session, job_id: str) -> TrialContext | None:
    """The job's trial, if it is one of a sweep whose pruner is not ``none``."""
    found = session.execute(
        select(Job.sweep_id, Job.trial, Job.epochs, Sweep.pruner, Sweep.objective)
        .join(Sweep, Sweep.id == Job.sweep_id)
        .where(Job.id == job_id)
    ).first()
    session.rollback()
    if found is None or found.trial is None or found.pruner.get("kind", "none") == "none":
        return None
    return TrialContext(found.sweep_id, found.trial, found.objective["metric"], found.epochs)


def should_prune(
    session: Session, lease: Lease, trial: TrialContext, epoch: int, value: float | None
) -> bool:
    """Report the trial's objective at ``epoch`` to the pruner; True: stop it there.

    The verdict and Optuna's updated record (successive halving's rung values) commit
    together, fenced by the job's lease; a trial found pruned at this epoch or earlier
    (its worker died after the verdict) is pruned again without asking."""
    if not _lock(session, trial.sweep_id):
        return False
    try:
        jobqueue.fence(session, lease)
        sweep = _load(session, trial.sweep_id)
        trials = _trials(session, sweep)
        if trial.number >= len(trials):
            session.rollback()
            return False
        current = trials[trial.number]
        if current.row.pruned_epoch is not None:
            session.commit()
            return epoch >= current.row.pruned_epoch
        if current.row.state != RUNNING:
            session.rollback()
            return False
        current.record.intermediate = {
            e: v for e, v in current.record.intermediate.items() if e < epoch
        }
        study = _study(sweep, trials)
        pruned = study.should_prune(trial.number, epoch, value)
        for t in trials:
            attrs = study.record(t.row.number).system_attrs
            if attrs != t.row.system_attrs:
                t.row.system_attrs = attrs
        if pruned:
            current.row.pruned_epoch = epoch
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return pruned


# -- cancel and delete --------------------------------------------------------------------


def cancel(session: Session, settings: Settings, sweep_id: str) -> Sweep:
    """Stop a sweep: no new trials; queued trials cancelled at once, running ones asked
    to stop. Conflict when it has already finished."""
    get(session, sweep_id)  # NotFound unless the caller may see it
    session.rollback()
    if not _lock(session, sweep_id):
        raise NotFound("sweep", sweep_id)
    try:
        sweep = _load(session, sweep_id)
        if sweep.status not in ACTIVE_SWEEP_STATUSES:
            raise Conflict(f"sweep {sweep_id!r} is already {sweep.status}")
        sweep.status = SweepStatus.cancelled.value
        jobqueue.request_cancel_sweep(session, sweep_id)
        _step(session, settings, sweep)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return sweep


def remove(session: Session, sweep_id: str) -> None:
    """Delete a sweep, its trials and their jobs; running ones stop at their next lease
    check, as a deleted job does."""
    get(session, sweep_id)  # NotFound unless the caller may see it
    session.rollback()
    if not _lock(session, sweep_id):
        raise NotFound("sweep", sweep_id)
    jobqueue.delete_sweep_jobs(session, sweep_id)
    trial_rows: Table = SweepTrial.__table__  # type: ignore[assignment]
    session.execute(delete(trial_rows).where(trial_rows.c.sweep_id == sweep_id))
    session.execute(delete(sweeps_table).where(sweeps_table.c.id == sweep_id))
    session.commit()
