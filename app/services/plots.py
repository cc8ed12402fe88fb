"""Plots of jobs: loss curves, comparisons, decision boundaries (rendered by ``app.plots``).

matplotlib is imported on the first plot (``app.plots.render``), so starting the API does
not pay for it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.errors import Conflict, InvalidInput
from app.nn import Network, TrainState
from app.plots.grid import boundary_grid, grid_document
from app.services import sweeps
from app.services.live import BoundaryInputs, read_boundary_inputs, read_snapshot, require_job

Sessions = sessionmaker[Session]
MAX_COMPARED_JOBS = 20


def title(job: dict[str, Any], epoch: int | None = None) -> str:
    """``job 1a2b3c4d · 2-8-1 · running · epoch 12/300`` (``epoch``: a snapshot's)."""
    progress = job["progress"]
    sizes = "-".join(str(n) for n in job["network"].get("sizes", []))
    shown = progress["epoch"] if epoch is None else epoch
    return f"job {job['id'][:8]} · {sizes} · {job['status']} · epoch {shown}/{progress['epochs']}"


def loss(sessions: Sessions, job_id: str, fmt: str, width: int, height: int) -> bytes:
    """Train and validation loss (and accuracy, for classification) of one job so far."""
    from app.plots import render

    snapshot = require_job(read_snapshot(sessions, job_id), job_id)
    return render.loss_plot(
        snapshot.metrics, title=title(snapshot.job), fmt=fmt, width=width, height=height
    )


def comparison(sessions: Sessions, job_ids: str, fmt: str, width: int, height: int) -> bytes:
    """Several jobs' curves on shared axes; ``job_ids`` is comma-separated."""
    from app.plots import render

    ids = list(dict.fromkeys(j.strip() for j in job_ids.split(",") if j.strip()))
    if not ids:
        raise InvalidInput("jobs", "give at least one job id")
    if len(ids) > MAX_COMPARED_JOBS:
        raise InvalidInput("jobs", f"at most {MAX_COMPARED_JOBS} jobs, got {len(ids)}")
    series = []
    for job_id in ids:
        snapshot = require_job(read_snapshot(sessions, job_id), job_id)
        job = snapshot.job
        training = job["training"]
        label = (
            f"{job_id[:8]} {job['network'].get('sizes')} "
            f"{training.get('optimizer', 'sgd')} η={training.get('learning_rate')}"
        )
        series.append(render.Series(label=label, metrics=snapshot.metrics))
    return render.comparison_plot(series, fmt=fmt, width=width, height=height)


def _forward(found: BoundaryInputs, job_id: str) -> Any:
    """The forward pass of a finished job's weights, or of a running job's checkpoint."""
    if found.weights is not None:
        return Network.from_npz(found.weights).forward
    if found.checkpoint is not None:
        return TrainState.from_bytes(found.checkpoint).network.forward
    raise Conflict(
        f"job {job_id!r} has no weights yet (status {found.job['status']}, "
        f"epoch {found.job['progress']['epoch']}); try again after its first "
        "checkpoint"
    )


def boundary_png(
    sessions: Sessions,
    job_id: str,
    resolution: int,
    width: int,
    height: int,
    epoch: int | None = None,
) -> bytes:
    """The network's output over the input plane with the training points on top (with
    ``epoch``: the weights snapshot kept after that epoch)."""
    from app.plots import render

    found = read_boundary_inputs(sessions, job_id, epoch)
    grid = boundary_grid(_forward(found, job_id), found.inputs, resolution)
    return render.decision_boundary_plot(
        grid,
        found.inputs,
        found.targets,
        task=found.task,
        classes=found.classes,
        title=title(found.job, epoch),
        width=width,
        height=height,
    )


def boundary_document(
    sessions: Sessions, job_id: str, resolution: int, epoch: int | None = None
) -> dict[str, Any]:
    """The decision-boundary grid as numbers (``BoundaryGrid``; with ``epoch``: of the
    weights snapshot kept after that epoch)."""
    found = read_boundary_inputs(sessions, job_id, epoch)
    grid = boundary_grid(_forward(found, job_id), found.inputs, resolution)
    doc = grid_document(grid, found.inputs, found.targets, found.task, found.classes)
    return {
        "job_id": job_id,
        "status": found.job["status"],
        "epoch": found.job["progress"]["epoch"] if epoch is None else epoch,
        **doc,
    }


def sweep_trials(sessions: Sessions, sweep_id: str, fmt: str, width: int, height: int) -> bytes:
    """Every trial's objective per epoch; pruned trials end in × where they were stopped."""
    from app.plots import sweeps as sweep_render

    with sessions() as session:
        data = sweeps.plot_data(session, sweep_id)
    return sweep_render.trials_plot(
        data.sweep.model_dump(mode="json"),
        [t.model_dump(mode="json") for t in data.trials],
        data.curves,
        fmt=fmt,
        width=width,
        height=height,
    )


def sweep_params(sessions: Sessions, sweep_id: str, fmt: str, width: int, height: int) -> bytes:
    """Each ended trial's objective against each searched parameter."""
    from app.plots import sweeps as sweep_render

    with sessions() as session:
        data = sweeps.plot_data(session, sweep_id)
    return sweep_render.params_plot(
        data.sweep.model_dump(mode="json"),
        [t.model_dump(mode="json") for t in data.trials],
        fmt=fmt,
        width=width,
        height=height,
    )
