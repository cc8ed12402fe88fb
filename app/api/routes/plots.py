"""Plots of jobs: loss/accuracy curves (SVG/PNG), comparisons, decision boundaries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from app.api.deps import SessionsDep
from app.plots.grid import DEFAULT_RESOLUTION, MAX_RESOLUTION
from app.schemas.common import error_responses
from app.schemas.plots import BoundaryGrid
from app.services import plots

router = APIRouter(tags=["plots"])

MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
Width = Annotated[int, Query(ge=200, le=4000, description="image width in pixels")]
Height = Annotated[int, Query(ge=150, le=4000, description="image height in pixels")]
Resolution = Annotated[
    int, Query(ge=2, le=MAX_RESOLUTION, description="grid points along each axis")
]
BINARY = {"schema": {"type": "string", "format": "binary"}}
Epoch = Annotated[
    int | None,
    Query(
        ge=1,
        le=2**62,
        description="Use the weights snapshot kept after this epoch (training.snapshot_every; "
        "404 if there is none)",
    ),
]


def image_responses(
    *media_types: str, errors: tuple[int, ...] = (404, 422)
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entry of an image route: the image types, then the documented errors."""
    return {
        200: {"description": "The image", "content": {m: BINARY for m in media_types}},
        **error_responses(*errors),
    }


def image_response(data: bytes, fmt: str) -> Response:
    """An image answer of ``fmt`` (svg/png) that nobody caches."""
    # Plots of a running job change every epoch: let nobody cache them.
    return Response(
        content=data, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/v1/jobs/{job_id}/plots/loss.{fmt}",
    summary="Loss and accuracy per epoch",
    response_class=Response,
    responses=image_responses("image/svg+xml", "image/png"),
)
def job_loss_plot(
    sessions: SessionsDep,
    job_id: str,
    fmt: Literal["svg", "png"],
    width: Width = 900,
    height: Height = 420,
) -> Response:
    """Train and validation loss (and accuracy, for classification) of one job so far."""
    return image_response(plots.loss(sessions, job_id, fmt, width, height), fmt)


@router.get(
    "/v1/plots/loss.{fmt}",
    summary="Compare the loss curves of several jobs",
    response_class=Response,
    responses=image_responses("image/svg+xml", "image/png"),
)
def comparison_plot(
    sessions: SessionsDep,
    fmt: Literal["svg", "png"],
    jobs: Annotated[str, Query(description="comma-separated job ids", min_length=1)],
    width: Width = 900,
    height: Height = 420,
) -> Response:
    """One colour per job; solid lines training, dashed lines validation."""
    return image_response(plots.comparison(sessions, jobs, fmt, width, height), fmt)


@router.get(
    "/v1/jobs/{job_id}/plots/decision-boundary.png",
    summary="The network's output over the input plane (2-D datasets)",
    response_class=Response,
    responses=image_responses("image/png", errors=(404, 409, 422)),
)
def decision_boundary_png(
    sessions: SessionsDep,
    job_id: str,
    resolution: Resolution = DEFAULT_RESOLUTION,
    width: Width = 600,
    height: Height = 600,
    epoch: Epoch = None,
) -> Response:
    """Like the TensorFlow Playground: coloured by predicted class, training points on top.

    A finished job uses its final weights, a running job its latest checkpoint, and
    `epoch=k` the weights snapshot kept after epoch k.
    """
    return image_response(
        plots.boundary_png(sessions, job_id, resolution, width, height, epoch), "png"
    )


@router.get(
    "/v1/jobs/{job_id}/plots/decision-boundary.json",
    response_model=BoundaryGrid,
    summary="The decision-boundary grid as numbers, for clients that draw their own",
    responses=error_responses(404, 409, 422),
)
def decision_boundary_json(
    sessions: SessionsDep,
    job_id: str,
    resolution: Resolution = DEFAULT_RESOLUTION,
    epoch: Epoch = None,
) -> dict[str, Any]:
    """`outputs[i][j]` is the network's output vector at `(x[j], y[i])`; `labels[i][j]`
    the predicted class (classification); `points` the training set. `epoch=k`: the
    weights snapshot kept after epoch k."""
    return plots.boundary_document(sessions, job_id, resolution, epoch)
