"""``POST /v1/backprop``: one forward and backward pass, layer by layer (the use case is
``app.services.inspection``). Nothing is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.api.deps import SessionDep
from app.schemas.backprop import (
    JOB_EXAMPLE,
    SEED_EXAMPLE,
    XOR_EXAMPLE,
    BackpropRequest,
    BackpropResponse,
)
from app.schemas.common import error_responses, example
from app.services import inspection

router = APIRouter(prefix="/v1", tags=["backprop"])


@router.post(
    "/backprop",
    response_model=BackpropResponse,
    summary="Run one forward and backward pass and show every layer's delta and gradients",
    responses=error_responses(404, 409, 422),
)
def run_backprop(
    body: Annotated[
        BackpropRequest,
        Body(
            openapi_examples={
                "xor_2_3_1": example("2-3-1 sigmoid network on XOR, given weights", XOR_EXAMPLE),
                "seeded_softmax": example("2-4-2 softmax network, seeded weights", SEED_EXAMPLE),
                "job": example("A trained job's weights (paste its id)", JOB_EXAMPLE),
            }
        ),
    ],
    session: SessionDep,
) -> BackpropResponse:
    """Backpropagate one batch through the network and return what each layer computed.

    Per layer: `z`, `activation`, `delta` (one row per sample) and the batch-mean
    gradients `grad_weights` (`n_l × n_{l-1}`) and `grad_biases`; the batch `cost`; a
    central finite-difference check of every gradient; and, with `learning_rate`, the
    weights after one step of gradient descent (which subtracts the gradient).
    """
    return inspection.backprop(session, body)
