"""`POST /v1/backprop`: one forward and backward pass, layer by layer (DESIGN §3, issue 6).

Thin: pick the weights (given, a job's, or seeded), check shapes and size caps, then call
the engine's inspection functions (`app.nn.inspect`) and return their arrays as JSON.
Nothing is stored. Sizes are capped so a request stays interactive: the finite-difference
check costs two forward passes per parameter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Body
from sqlalchemy.orm import Session

from app.api.deps import SessionDep
from app.db import queries
from app.errors import Conflict, InvalidInput
from app.nn import Network, NetworkSpec, Trace, backprop_trace, gradient_check, sgd_step
from app.schemas.backprop import (
    JOB_EXAMPLE,
    SEED_EXAMPLE,
    XOR_EXAMPLE,
    BackpropRequest,
    BackpropResponse,
    GradientCheck,
    LayerCheck,
    LayerTrace,
    Update,
    UpdatedLayer,
)
from app.schemas.common import error_responses, example
from app.schemas.jobs import NetworkSpec as NetworkModel

router = APIRouter(prefix="/v1", tags=["backprop"])

Source = Literal["weights", "job", "seed"]

MAX_BATCH_ROWS = 128
"""Most samples in one request's batch."""
MAX_PARAMETERS = 1_000
"""Most weights + biases in the network: the gradient check runs 2 forward passes per
parameter. Measured on 2 cores: 1,013 parameters (10-30-20-3) at 64 rows took 0.37 s,
at 256 rows 0.98 s; 4,911 parameters at 256 rows took over 100 s through the API."""
CHECK_EPSILON = 1e-5
"""Step of the central finite differences: balances truncation error (~ε²) against
round-off (~1e-16/ε). Measured over 160 small networks (every hidden × output × cost,
5 seeds): worst relative error 2.2e-7 at ε = 1e-5, 5.1e-6 at ε = 1e-6."""


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
    # The engine's SpecError (bad names, pairing, weight shapes) is a 422 naming the field.
    network, net, source = _network(body, session)
    x, y = _batch(body, net.sizes)
    return _inspect(net, network, source, x, y, body)


def _network(body: BackpropRequest, session: Session) -> tuple[NetworkModel, Network, Source]:
    """The network spec, its float64 weights, and where the weights came from."""
    if body.job_id is not None:
        network, net = _job_network(session, body.job_id, body.network)
        return network, net, "job"
    assert body.network is not None  # the request model guarantees it
    spec = _spec(body.network)
    _check_parameter_count(spec.sizes)
    if body.weights is not None:
        # The engine names a misfit layer: "weights[0].weights: expected 3x2, got 2x3".
        layers = [p.model_dump(exclude_none=True) for p in body.weights]
        net = Network.from_layers(spec, layers, dtype="float64", field="weights")
        return body.network, net, "weights"
    assert body.seed is not None
    return body.network, Network.initialize(spec, seed=body.seed, dtype="float64"), "seed"


def _spec(network: NetworkModel) -> NetworkSpec:
    """The engine spec; SpecError (-> 422, "network.…: …") when names or pairing are bad."""
    spec = NetworkSpec.from_dict(network.model_dump())
    spec.validate()
    return spec


def _check_parameter_count(sizes: list[int]) -> None:
    count = sum(n * (n_prev + 1) for n_prev, n in zip(sizes, sizes[1:], strict=False))
    if count > MAX_PARAMETERS:
        raise InvalidInput(
            "network.sizes",
            f"{sizes} has {count} parameters; this endpoint is interactive and accepts at "
            f"most {MAX_PARAMETERS} parameters (MAX_PARAMETERS)",
        )


def _job_network(
    session: Session, job_id: str, given: NetworkModel | None
) -> tuple[NetworkModel, Network]:
    """The job's network and trained weights (float64); 404 unknown job, 409 no weights."""
    job = queries.get_job(session, job_id, weights=True)  # NotFound -> 404
    if job.weights is None:
        raise Conflict(
            f"job {job_id!r} has no trained weights yet (status: {job.status}); "
            "wait until it has succeeded, or pass 'weights' or 'seed'"
        )
    # float64 whatever dtype the job trained in: the finite differences need it.
    net = Network.from_npz(job.weights).astype("float64")
    network = NetworkModel.model_validate(
        {k: v for k, v in job.network.items() if k in NetworkModel.model_fields}
    )
    if given is not None:
        mine, theirs = _spec(given), _spec(network)
        if (mine.sizes, mine.layer_activations, mine.cost) != (
            theirs.sizes,
            theirs.layer_activations,
            theirs.cost,
        ):
            raise InvalidInput(
                "network",
                f"does not match job {job_id!r}: sizes {mine.sizes} vs {theirs.sizes}, "
                f"activations {mine.layer_activations} vs {theirs.layer_activations}, "
                f"cost {mine.cost!r} vs {theirs.cost!r}; omit 'network' to use the job's",
            )
    _check_parameter_count(list(net.sizes))
    return network, net


def _batch(body: BackpropRequest, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets as float64 arrays, checked against the network and the caps."""
    m = len(body.inputs)
    if m > MAX_BATCH_ROWS:
        raise InvalidInput(
            "inputs",
            f"{m} rows; this endpoint is interactive and accepts at most {MAX_BATCH_ROWS} "
            "rows per batch (MAX_BATCH_ROWS)",
        )
    if len(body.targets) != m:
        raise InvalidInput(
            "targets", f"{len(body.targets)} rows, but inputs has {m}; give one target per input"
        )
    for name, rows, width, what in (
        ("inputs", body.inputs, sizes[0], "sizes[0]"),
        ("targets", body.targets, sizes[-1], "sizes[-1]"),
    ):
        for i, row in enumerate(rows):
            if len(row) != width:
                raise InvalidInput(
                    f"{name}[{i}]", f"has {len(row)} values, but the network's {what} is {width}"
                )
    x = np.asarray(body.inputs, dtype=np.float64)
    y = np.asarray(body.targets, dtype=np.float64)
    for name, array in (("inputs", x), ("targets", y)):
        if not np.isfinite(array).all():
            bad = int(np.argwhere(~np.isfinite(array))[0][0])
            raise InvalidInput(f"{name}[{bad}]", "values must be finite numbers (no NaN or inf)")
    return x, y


def _inspect(
    net: Network,
    network: NetworkModel,
    source: Source,
    x: np.ndarray,
    y: np.ndarray,
    body: BackpropRequest,
) -> BackpropResponse:
    """Trace the pass, check it, optionally step, and refuse what JSON cannot carry."""
    trace = backprop_trace(net, x, y)
    params = net.to_document()["layers"]
    layers = [
        LayerTrace(
            layer=l_index,
            activation_function=net.activations[l_index - 1],
            weights=p["weights"],
            biases=p["biases"],
            z=_rows(t.z),
            activation=_rows(t.activation),
            delta=_rows(t.delta),
            grad_weights=np.asarray(t.grad_weights).tolist(),
            grad_biases=np.asarray(t.grad_biases).tolist(),
        )
        for l_index, (t, p) in enumerate(zip(trace.layers, params, strict=True), start=1)
    ]
    check = _gradient_check(net, x, y) if body.check_gradients else None
    update = None
    if body.learning_rate is not None:
        n = body.n if body.n is not None else x.shape[0]
        update = _update(net, trace, x, y, body.learning_rate, body.l2, n)
    response = BackpropResponse(
        network=network,
        source=source,
        batch_size=int(x.shape[0]),
        cost=float(trace.cost),
        layers=layers,
        gradient_check=check,
        update=update,
    )
    _require_finite(response)
    return response


def _gradient_check(net: Network, x: np.ndarray, y: np.ndarray) -> GradientCheck:
    """Central finite differences of every parameter vs backprop, per layer."""
    layers = [
        LayerCheck(
            layer=i,
            max_rel_error_weights=float(c.max_rel_error_weights),
            max_rel_error_biases=float(c.max_rel_error_biases),
        )
        for i, c in enumerate(gradient_check(net, x, y, eps=CHECK_EPSILON), start=1)
    ]
    worst = max(max(c.max_rel_error_weights, c.max_rel_error_biases) for c in layers)
    return GradientCheck(epsilon=CHECK_EPSILON, max_rel_error=worst, layers=layers)


def _update(
    net: Network,
    trace: Trace,
    x: np.ndarray,
    y: np.ndarray,
    learning_rate: float,
    l2: float,
    n: int,
) -> Update:
    """One DESIGN §1 step (it subtracts the gradient) and the batch's cost after it."""
    stepped = sgd_step(net, trace, learning_rate, l2=l2, n=n)
    return Update(
        learning_rate=learning_rate,
        l2=l2,
        n=n,
        layers=[
            UpdatedLayer(weights=p["weights"], biases=p["biases"])
            for p in stepped.to_document()["layers"]
        ],
        cost_after=float(stepped.loss(x, y)),
    )


def _rows(array: Any) -> list[list[float]]:
    """A batch quantity as one row per sample."""
    return np.asarray(array, dtype=np.float64).tolist()  # type: ignore[no-any-return]


def _require_finite(response: BackpropResponse) -> None:
    """JSON has no inf/NaN: an overflowing pass is the caller's input, say so (422)."""
    numbers = [response.cost]
    if response.update is not None:
        numbers.append(response.update.cost_after)
        for new in response.update.layers:
            numbers.extend(v for row in new.weights for v in row)
            numbers.extend(new.biases)
    for layer in response.layers:
        for rows in (layer.z, layer.activation, layer.delta, layer.grad_weights):
            numbers.extend(v for row in rows for v in row)
        numbers.extend(layer.grad_biases)
    if response.gradient_check is not None:
        numbers.append(response.gradient_check.max_rel_error)
    if not np.isfinite(numbers).all():
        raise InvalidInput(
            "inputs",
            "the pass produced non-finite numbers (overflow, or a log of 0 in the cost); "
            "use smaller inputs or weights, or targets the cost allows",
        )
