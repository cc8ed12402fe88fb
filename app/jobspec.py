"""Checks a job request against the engine's rules and the dataset it names.

Raises ``app.nn.SpecError`` (engine rules: names, ranges, pairings, batch size vs.
training split, initial weight shapes) or ``InvalidInput`` (sizes vs. the dataset); the
API answers both with 422 and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from app.db.models import Dataset
from app.errors import InvalidInput
from app.limits import engine_training
from app.nn import Network, NetworkSpec, TrainingConfig


def check_job(
    network: dict[str, Any],
    training: dict[str, Any],
    initial_weights: list[dict[str, Any]] | None,
    dataset: Dataset,
) -> None:
    """Raise if the spec cannot train on ``dataset``; return None when it can."""
    spec = NetworkSpec.from_dict(network)
    spec.validate()
    if spec.sizes[0] != dataset.n_features:
        raise InvalidInput(
            "network.sizes",
            f"sizes[0] is {spec.sizes[0]} but the dataset has {dataset.n_features} features",
        )
    if spec.sizes[-1] != dataset.n_outputs:
        raise InvalidInput(
            "network.sizes",
            f"sizes[-1] is {spec.sizes[-1]} but the dataset has {dataset.n_outputs} outputs",
        )
    config = TrainingConfig.from_dict(engine_training(training))
    config.validate(n_samples=dataset.n_samples)
    if initial_weights is not None:
        Network.from_layers(spec, initial_weights, dtype=config.dtype)
