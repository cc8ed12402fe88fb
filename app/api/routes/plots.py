"""Plots of jobs: loss/accuracy curves (SVG/PNG), comparisons, decision boundaries.

matplotlib is imported inside the handlers (through `app.plots.render`), so starting the
API does not pay for it; the first plot request does, once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from app.api.jobdata import BoundaryInputs, read_boundary_inputs, read_snapshot, require_job
from app.errors import Conflict, InvalidInput
from app.plots.grid import DEFAULT_RESOLUTION, MAX_RESOLUTION, boundary_grid, grid_document
from app.schemas.common import error_responses
from app.schemas.plots import BoundaryGrid

router = APIRouter(tags=["plots"])

MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
MAX_COMPARED_JOBS = 20
Width = Annotated[int, Query(ge=200, le=4000, description="image width in pixels")]
Height = Annotated[int, Query(ge=150, le=4000, description="image height in pixels")]
BINARY = {"schema": {"type": "string", "format": "binary"}}


def image_responses(
    *media_types: str, errors: tuple[int, ...] = (404, 422)
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entry of an image route: the image types, then the documented errors."""
    return {
        200: {"description": "The image", "content": {m: BINARY for m in media_types}},
        **error_responses(*errors),
    }


def _image(data: bytes, fmt: str) -> Response:
    # Plots of a running job change every epoch: let nobody cache them.
    return Response(
        content=data, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "no-store"}
    )


def _title(job: dict[str, Any]) -> str:
    progress = job["progress"]
    sizes = "-".join(str(n) for n in job["network"].get("sizes", []))
    return (
        f"job {job['id'][:8]} · {sizes} · {job['status']} · "
        f"epoch {progress['epoch']}/{progress['epochs']}"
    )


@router.get(
    "/v1/jobs/{job_id}/plots/loss.{fmt}",
    summary="Loss and accuracy per epoch",
    response_class=Response,
    responses=image_responses("image/svg+xml", "image/png"),
)
def job_loss_plot(
    request: Request,
    job_id: str,
    fmt: Literal["svg", "png"],
    width: Width = 900,
    height: Height = 420,
) -> Response:
    """Train and validation loss (and accuracy, for classification) of one job so far."""
    from app.plots import render

    snapshot = require_job(read_snapshot(request.app, job_id), job_id)
    data = render.loss_plot(
        snapshot.metrics, title=_title(snapshot.job), fmt=fmt, width=width, height=height
    )
    return _image(data, fmt)


@router.get(
    "/v1/plots/loss.{fmt}",
    summary="Compare the loss curves of several jobs",
    response_class=Response,
    responses=image_responses("image/svg+xml", "image/png"),
)
def comparison_plot(
    request: Request,
    fmt: Literal["svg", "png"],
    jobs: Annotated[str, Query(description="comma-separated job ids", min_length=1)],
    width: Width = 900,
    height: Height = 420,
) -> Response:
    """One colour per job; solid lines training, dashed lines validation."""
    from app.plots import render

    ids = list(dict.fromkeys(j.strip() for j in jobs.split(",") if j.strip()))
    if not ids:
        raise InvalidInput("jobs", "give at least one job id")
    if len(ids) > MAX_COMPARED_JOBS:
        raise InvalidInput("jobs", f"at most {MAX_COMPARED_JOBS} jobs, got {len(ids)}")
    series = []
    for job_id in ids:
        snapshot = require_job(read_snapshot(request.app, job_id), job_id)
        job = snapshot.job
        training = job["training"]
        label = (
            f"{job_id[:8]} {job['network'].get('sizes')} "
            f"{training.get('optimizer', 'sgd')} η={training.get('learning_rate')}"
        )
        series.append(render.Series(label=label, metrics=snapshot.metrics))
    return _image(render.comparison_plot(series, fmt=fmt, width=width, height=height), fmt)


def _forward(found: BoundaryInputs, job_id: str) -> Any:
    from app.nn import Network, TrainState

    if found.weights is not None:
        return Network.from_npz(found.weights).forward
    if found.checkpoint is not None:
        return TrainState.from_bytes(found.checkpoint).network.forward
    raise Conflict(
        f"job {job_id!r} has no weights yet (status {found.job['status']}, "
        f"epoch {found.job['progress']['epoch']}); try again after its first "
        "checkpoint"
    )


Resolution = Annotated[
    int, Query(ge=2, le=MAX_RESOLUTION, description="grid points along each axis")
]


@router.get(
    "/v1/jobs/{job_id}/plots/decision-boundary.png",
    summary="The network's output over the input plane (2-D datasets)",
    response_class=Response,
    responses=image_responses("image/png", errors=(404, 409, 422)),
)
def decision_boundary_png(
    request: Request,
    job_id: str,
    resolution: Resolution = DEFAULT_RESOLUTION,
    width: Width = 600,
    height: Height = 600,
) -> Response:
    """Like the TensorFlow Playground: coloured by predicted class, training points on top.

    A finished job uses its final weights, a running job its latest checkpoint.
    """
    from app.plots import render

    found = read_boundary_inputs(request.app, job_id)
    grid = boundary_grid(_forward(found, job_id), found.inputs, resolution)
    data = render.decision_boundary_plot(
        grid,
        found.inputs,
        found.targets,
        task=found.task,
        classes=found.classes,
        title=_title(found.job),
        width=width,
        height=height,
    )
    return _image(data, "png")


@router.get(
    "/v1/jobs/{job_id}/plots/decision-boundary.json",
    response_model=BoundaryGrid,
    summary="The decision-boundary grid as numbers, for clients that draw their own",
    responses=error_responses(404, 409, 422),
)
def decision_boundary_json(
    request: Request, job_id: str, resolution: Resolution = DEFAULT_RESOLUTION
) -> dict[str, Any]:
    """`outputs[i][j]` is the network's output vector at `(x[j], y[i])`; `labels[i][j]`
    the predicted class (classification); `points` the training set."""
    found = read_boundary_inputs(request.app, job_id)
    grid = boundary_grid(_forward(found, job_id), found.inputs, resolution)
    doc = grid_document(grid, found.inputs, found.targets, found.task, found.classes)
    return {
        "job_id": job_id,
        "status": found.job["status"],
        "epoch": found.job["progress"]["epoch"],
        **doc,
    }
