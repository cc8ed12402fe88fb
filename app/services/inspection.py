"""One forward and backward pass, layer by layer, for a reader to follow the equations
(``POST /v1/backprop``). Nothing is stored.

Picks the weights (given, a job's, or seeded), checks the batch against the network and
the caps, then runs the engine's inspection functions (``app.nn.inspect``) and returns
their arrays as a :class:`~app.schemas.backprop.BackpropResponse`. The caps keep a
request interactive: the finite-difference check costs two forward passes per parameter.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sqlalchemy.orm import Session

from app.errors import Conflict, InvalidInput
from app.limits import network_parameters
from app.nn import Network, Trace, backprop_trace, gradient_check, sgd_step
from app.schemas.backprop import (
    BackpropRequest,
    BackpropResponse,
    GradientCheck,
    LayerCheck,
    LayerTrace,
    Update,
    UpdatedLayer,
)
from app.schemas.spec import NetworkSpec as NetworkModel
from app.services import jobs
from app.services.arrays import float_rows

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


def backprop(session: Session, request: BackpropRequest) -> BackpropResponse:
    """Backpropagate one batch through the network and return what each layer computed.

    The engine's SpecError (bad names, pairing, weight shapes) propagates as a 422 that
    names the field; an unknown job is NotFound, a job without weights a Conflict.
    """
    network, net, source = _network(session, request)
    x, y = _batch(request, net.sizes)
    return _inspect(net.astype(request.dtype), network, source, x, y, request)


def _network(session: Session, request: BackpropRequest) -> tuple[NetworkModel, Network, Source]:
    """The network spec, its float64 weights, and where the weights came from."""
    if request.job_id is not None:
        network, net = _job_network(session, request.job_id, request.network)
        return network, net, "job"
    assert request.network is not None  # the request model guarantees it
    spec = request.network.engine()
    _check_parameter_count(spec.sizes)
    if request.weights is not None:
        # The engine names a misfit layer: "weights[0].weights: expected 3x2, got 2x3".
        layers = [p.model_dump(exclude_none=True) for p in request.weights]
        net = Network.from_layers(spec, layers, dtype="float64", field="weights")
        return request.network, net, "weights"
    assert request.seed is not None
    return request.network, Network.initialize(spec, seed=request.seed, dtype="float64"), "seed"


def _check_parameter_count(sizes: list[int]) -> None:
    count = network_parameters(sizes)
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
    job = jobs.get(session, job_id, weights=True)
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
        mine, theirs = given.engine(), network.engine()
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


def _batch(request: BackpropRequest, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets as float64 arrays, checked against the network and the caps."""
    m = len(request.inputs)
    if m > MAX_BATCH_ROWS:
        raise InvalidInput(
            "inputs",
            f"{m} rows; this endpoint is interactive and accepts at most {MAX_BATCH_ROWS} "
            "rows per batch (MAX_BATCH_ROWS)",
        )
    if len(request.targets) != m:
        raise InvalidInput(
            "targets", f"{len(request.targets)} rows, but inputs has {m}; give one target per input"
        )
    x = float_rows("inputs", request.inputs, sizes[0], "the network's sizes[0]")
    y = float_rows("targets", request.targets, sizes[-1], "the network's sizes[-1]")
    return x, y


def _inspect(
    net: Network,
    network: NetworkModel,
    source: Source,
    x: np.ndarray,
    y: np.ndarray,
    request: BackpropRequest,
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
    check = _gradient_check(net, x, y) if request.check_gradients else None
    update = None
    if request.learning_rate is not None:
        n = request.n if request.n is not None else x.shape[0]
        update = _update(net, trace, x, y, request.learning_rate, request.l2, n)
    response = BackpropResponse(
        network=network,
        source=source,
        dtype=request.dtype,
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
    """One gradient-descent step (docs/design.md §1: it subtracts the gradient) and the
    batch's cost after it."""
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
