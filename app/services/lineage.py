"""Jobs that start from other jobs (``from_job``) and their lineage.

``continue`` carries on from the parent's final training state: the child is submitted
with that state as its checkpoint and the parent's metrics rows up to it, so the worker
resumes it like any interrupted job, and it ends bit-identical to one run of
``training.epochs`` epochs. Only ``training.epochs`` (and the service-side
``max_runtime_seconds``) may differ from the parent. ``weights`` starts from the
parent's final weights with a fresh optimizer and any training config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from app.datasets import arrays_sha256
from app.db.models import ACTIVE_STATUSES, Dataset, Job
from app.errors import Conflict, InvalidInput, NotFound
from app.jobqueue import Start
from app.nn import Network, SpecError, TrainState
from app.schemas.jobs import JobCreate, JobSpec, NetworkSpec, TrainingConfig
from app.services import datasets

#: Training fields a ``continue`` may change: the total epochs, and the service's own
#: runtime limit (it does not change the numbers).
CONTINUE_MAY_CHANGE = frozenset({"epochs", "max_runtime_seconds"})


@dataclass(frozen=True)
class Derived:
    """A ``from_job`` request resolved: what to train, on what, starting where."""

    spec: JobSpec
    dataset: Dataset
    start: Start


def load(
    session: Session,
    job_id: str,
    *,
    what: str = "job",
    weights: bool = False,
    checkpoint: bool = False,
) -> Job:
    """A job with its start weights (and its final weights, its checkpoint: large blobs,
    loaded only when asked for), or NotFound."""
    stmt = select(Job).where(Job.id == job_id).options(undefer(Job.initial_weights))
    if weights:
        stmt = stmt.options(undefer(Job.weights))
    if checkpoint:
        stmt = stmt.options(undefer(Job.checkpoint))
    job = session.scalars(stmt).first()
    if job is None:
        raise NotFound(what, job_id)
    return job


def resolve(session: Session, request: JobCreate) -> Derived:
    """The spec, dataset and start of a ``from_job`` request; 404 for an unknown parent,
    409 for a parent without a result to start from, 422 naming the field otherwise."""
    assert request.from_job is not None
    parent_id, mode = request.from_job.id, request.from_job.mode
    parent = load(
        session, parent_id, what="from_job.id: job", weights=True, checkpoint=mode == "continue"
    )
    if parent.status in ACTIVE_STATUSES:
        raise Conflict(
            f"from_job.id: job {parent_id!r} is still {parent.status}; "
            "it can be started from once it has finished"
        )
    if parent.weights is None:
        why = f": {parent.error}" if parent.error else ""
        raise Conflict(
            f"from_job.id: job {parent_id!r} has no weights to start from "
            f"(it {parent.status} without any{why})"
        )
    dataset = _dataset(session, request, parent)
    network = _overlay(parent.network, request.network, NetworkSpec)
    training = _overlay(parent.training, request.training, TrainingConfig)
    if mode == "continue":
        return _continue(parent, dataset, network, training)
    return _weights(parent, dataset, network, training)


def _dataset(session: Session, request: JobCreate, parent: Job) -> Dataset:
    if request.dataset_id is not None:
        return datasets.get(session, request.dataset_id)
    if request.dataset_name is not None:
        return datasets.find_by_name(session, request.dataset_name)
    if parent.dataset_id is None:
        raise InvalidInput(
            "dataset_id",
            f"job {parent.id!r}'s dataset was deleted; give dataset_id (for `continue`, "
            f"one with SHA-256 {parent.dataset_sha256})",
        )
    return datasets.get(session, parent.dataset_id)


def _overlay(
    stored: dict[str, Any], given: NetworkSpec | TrainingConfig | None, model: Any
) -> dict[str, Any]:
    """The parent's section with the fields the request sets explicitly on top."""
    merged = dict(stored)
    if given is not None:
        merged.update(given.model_dump(include=given.model_fields_set))
    return dict(model.model_validate(merged).model_dump())


def _continue(
    parent: Job, dataset: Dataset, network: dict[str, Any], training: dict[str, Any]
) -> Derived:
    pid = parent.id
    was_network = _overlay(parent.network, None, NetworkSpec)
    was_training = _overlay(parent.training, None, TrainingConfig)
    for key, value in network.items():
        if was_network[key] != value:
            raise InvalidInput(
                f"network.{key}",
                f"is {value!r} but job {pid!r} has {was_network[key]!r}; `continue` "
                "keeps the network (use mode `weights` to change it)",
            )
    for key, value in training.items():
        if key not in CONTINUE_MAY_CHANGE and was_training[key] != value:
            raise InvalidInput(
                f"training.{key}",
                f"is {value!r} but job {pid!r} was trained with {was_training[key]!r}; "
                "`continue` may change only training.epochs (use mode `weights` for a new "
                "training config)",
            )
    if parent.dataset_sha256 is not None and dataset.sha256 != parent.dataset_sha256:
        raise InvalidInput(
            "dataset_id",
            f"dataset {dataset.id!r} is not the data job {pid!r} trained on (SHA-256 "
            f"{parent.dataset_sha256}); `continue` needs the same data (use mode `weights`)",
        )
    if (parent.final_metrics or {}).get("stopped_early"):
        raise Conflict(
            f"from_job.id: job {pid!r} stopped early (early_stopping_patience) at epoch "
            f"{parent.epoch}; one longer run would have stopped there too, so there is "
            "nothing to continue (use mode `weights` to train on)"
        )
    state = final_state(parent)
    if state is None:
        raise Conflict(
            f"from_job.id: job {pid!r} has no stored final training state to continue "
            "from (it finished before this was recorded); use mode `weights`"
        )
    if training["epochs"] <= state.epoch:
        raise InvalidInput(
            "training.epochs",
            f"is {training['epochs']} but job {pid!r} has already trained {state.epoch} "
            "epochs; give the new total, more than that",
        )
    assert parent.checkpoint is not None
    spec = JobSpec.stored(network, training, parent.initial_weights)
    start = Start(
        checkpoint=parent.checkpoint,
        epoch=state.epoch,
        metrics_from=pid,
        parent_id=pid,
        from_mode="continue",
        state_sha256=state_sha256(state),
    )
    return Derived(spec, dataset, start)


def _weights(
    parent: Job, dataset: Dataset, network: dict[str, Any], training: dict[str, Any]
) -> Derived:
    assert parent.weights is not None
    net = Network.from_npz(parent.weights)
    if list(network["sizes"]) != net.sizes:
        raise InvalidInput(
            "network.sizes",
            f"is {network['sizes']} but job {parent.id!r}'s weights are for {net.sizes}; "
            "mode `weights` keeps the layer sizes",
        )
    # Without their activation names, so the activations may change too.
    layers = [
        {"weights": layer["weights"], "biases": layer["biases"]}
        for layer in net.to_document()["layers"]
    ]
    spec = JobSpec.stored(network, training, layers)
    start = Start(parent_id=parent.id, from_mode="weights")
    return Derived(spec, dataset, start)


def final_state(job: Job) -> TrainState | None:
    """The training state a finished job ended in: its checkpoint, if that holds exactly
    its final weights (a job finished before final states were stored has an older one)."""
    if job.checkpoint is None or job.weights is None:
        return None
    try:
        state = TrainState.from_bytes(job.checkpoint)
        final = Network.from_npz(job.weights)
    except SpecError:
        return None
    same = len(state.network.params) == len(final.params) and all(
        a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        for a, b in zip(state.network.params, final.params, strict=False)
    )
    return state if same else None


def state_sha256(state: TrainState) -> str:
    """Digest of a training state: its metadata (epoch, batch, RNG, schedule, config) as
    canonical JSON, then its weights, optimizer buffers and partial epoch outputs."""
    meta = {
        "epoch": state.epoch,
        "batch": state.batch,
        "rng_state": state.rng_state,
        "learning_rate": state.learning_rate,
        "schedule": state.schedule,
        "config": state.config,
        "n_train": state.n_train,
    }
    text = json.dumps(meta, sort_keys=True, separators=(",", ":"), default=str)
    arrays: list[tuple[str, Any]] = [("meta", np.frombuffer(text.encode(), dtype=np.uint8))]
    arrays += [(f"params_{i}", p) for i, p in enumerate(state.network.params)]
    arrays += [(f"opt_{k}", state.optimizer[k]) for k in sorted(state.optimizer)]
    if state.partial_outputs is not None:
        arrays.append(("partial_outputs", state.partial_outputs))
    return arrays_sha256(arrays)


def ancestors(session: Session, job_id: str) -> tuple[list[Job], str | None]:
    """The job's parent, grandparent, ...; and the id of a deleted ancestor ending it."""
    job = session.scalars(select(Job).where(Job.id == job_id)).first()
    if job is None:
        raise NotFound("job", job_id)
    found: list[Job] = []
    seen = {job.id}
    parent_id = job.parent_id
    while parent_id is not None and parent_id not in seen:
        parent = session.scalars(select(Job).where(Job.id == parent_id)).first()
        if parent is None:
            return found, parent_id
        found.append(parent)
        seen.add(parent.id)
        parent_id = parent.parent_id
    return found, None
