"""The API's NetworkSpec/TrainingConfig mirror the engine's dataclasses exactly."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel

from app import nn
from app.limits import SERVICE_TRAINING_FIELDS, engine_training
from app.schemas.jobs import NetworkSpec, TrainingConfig


@pytest.mark.parametrize(
    ("schema", "engine"),
    [(NetworkSpec, nn.NetworkSpec), (TrainingConfig, nn.TrainingConfig)],
)
def test_schema_fields_and_defaults_match_the_engine(schema: type[BaseModel], engine: type) -> None:
    engine_defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        for f in dataclasses.fields(engine)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    engine_fields = [f.name for f in dataclasses.fields(engine)]
    # Service-side fields (app.limits.SERVICE_TRAINING_FIELDS) are stripped before the engine.
    fields = {k: v for k, v in schema.model_fields.items() if k not in SERVICE_TRAINING_FIELDS}
    assert list(fields) == engine_fields
    schema_defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in fields.items()
        if not field.is_required()
    }
    assert schema_defaults == engine_defaults


def test_a_dumped_schema_converts_to_the_engine_spec() -> None:
    model = NetworkSpec(sizes=[2, 3, 1])
    spec = nn.NetworkSpec.from_dict(model.model_dump())
    assert spec.sizes == [2, 3, 1] and spec.cost == "cross_entropy"
    config = nn.TrainingConfig.from_dict(engine_training(TrainingConfig().model_dump()))
    assert config == nn.TrainingConfig()


def test_enum_names_match_the_engine_registries() -> None:
    from typing import get_args

    from app.schemas import jobs

    assert set(get_args(jobs.Activation)) == set(nn.ACTIVATIONS)
    assert set(get_args(jobs.Cost)) == set(nn.COSTS)
    assert set(get_args(jobs.Init)) == set(nn.INITIALIZERS)
    assert set(get_args(jobs.Optimizer)) == set(nn.OPTIMIZERS)
