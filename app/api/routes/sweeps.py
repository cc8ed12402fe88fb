"""``/v1/sweeps``: create, list, get, cancel, delete; the trials; the sweep's plots."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response, status

from app.api.deps import SessionDep, SessionsDep, SettingsDep, page_limit
from app.api.routes.plots import Height, Width, image_response, image_responses
from app.schemas.common import error_responses
from app.schemas.sweeps import CREATE_EXAMPLES, Sweep, SweepCreate, SweepList, TrialList
from app.services import plots, sweeps

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Sweep,
    responses=error_responses(404, 413, 422, 429, 507),
)
def create_sweep(
    body: Annotated[SweepCreate, Body(openapi_examples=CREATE_EXAMPLES)],
    session: SessionDep,
    settings: SettingsDep,
) -> Sweep:
    """Start a hyperparameter search: its first `parallelism` trials are queued now, the
    next ones as trials end, until `max_trials` have run (docs/sweeps.md)."""
    return sweeps.view(session, sweeps.create(session, settings, body))


@router.get("", response_model=SweepList, responses=error_responses(422))
def list_sweeps(
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> SweepList:
    """Sweeps, newest first."""
    limit = page_limit(limit, settings)
    rows, total = sweeps.page(session, limit, offset)
    items = [sweeps.view(session, r) for r in rows]
    return SweepList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{sweep_id}", response_model=Sweep, responses=error_responses(404))
def get_sweep(sweep_id: str, session: SessionDep) -> Sweep:
    """A sweep: its spec, its trials' jobs per status and its best trial so far."""
    return sweeps.view(session, sweeps.get(session, sweep_id))


@router.get("/{sweep_id}/trials", response_model=TrialList, responses=error_responses(404))
def sweep_trials(sweep_id: str, session: SessionDep) -> TrialList:
    """Every trial: its params, job, status, objective value and epochs trained."""
    return sweeps.trial_list(session, sweep_id)


@router.post(
    "/{sweep_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Sweep,
    responses=error_responses(404, 409),
)
def cancel_sweep(sweep_id: str, session: SessionDep, settings: SettingsDep) -> Sweep:
    """Stop the sweep: no new trials, queued ones cancelled, running ones asked to stop."""
    return sweeps.view(session, sweeps.cancel(session, settings, sweep_id))


@router.delete(
    "/{sweep_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404),
)
def delete_sweep(sweep_id: str, session: SessionDep) -> Response:
    """Delete the sweep and its trials' jobs (running ones stop)."""
    sweeps.remove(session, sweep_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{sweep_id}/plots/trials.{fmt}",
    summary="Every trial's objective per epoch",
    response_class=Response,
    responses=image_responses("image/svg+xml", "image/png"),
)
def trials_plot(
    sessions: SessionsDep,
    sweep_id: str,
    fmt: Literal["svg", "png"],
    width: Width = 900,
    height: Height = 480,
) -> Response:
    """One line per trial; a pruned trial's line stops at its pruned epoch, marked ×."""
    return image_response(plots.sweep_trials(sessions, sweep_id, fmt, width, height), fmt)


@router.get(
    "/{sweep_id}/plots/params.{fmt}",
    summary="The objective against each searched parameter",
    response_class=Response,
    responses=image_responses("image/svg+xml", "image/png"),
)
def params_plot(
    sessions: SessionsDep,
    sweep_id: str,
    fmt: Literal["svg", "png"],
    width: Width = 900,
    height: Height = 420,
) -> Response:
    """One panel per parameter: each ended trial's value (pruned ones hollow)."""
    return image_response(plots.sweep_params(sessions, sweep_id, fmt, width, height), fmt)
