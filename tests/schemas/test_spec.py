"""The API's job spec is derived from the engine's: fields, defaults, bounds, enums."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import get_args

import pytest
from pydantic import BaseModel, ValidationError

from app import nn
from app.schemas import spec as api
from tests.helpers import ROOT

SERVICE_FIELDS = {"max_runtime_seconds", "snapshot_every"}


@pytest.mark.parametrize(
    ("schema", "engine"),
    [(api.NetworkSpec, nn.NetworkSpec), (api.TrainingConfig, nn.TrainingConfig)],
)
def test_every_engine_field_is_in_the_api_with_its_default(
    schema: type[BaseModel], engine: type
) -> None:
    fields = {k: v for k, v in schema.model_fields.items() if k not in SERVICE_FIELDS}
    assert list(fields) == [f.name for f in dataclasses.fields(engine)]
    for f in dataclasses.fields(engine):
        if f.default is not dataclasses.MISSING:
            assert fields[f.name].get_default() == f.default, f.name
        assert fields[f.name].description == f.metadata["doc"], f.name


def test_bounds_come_from_the_engine_field_rules() -> None:
    refused = [
        ({"epochs": 0}, "greater than 0"),
        ({"momentum": 1.0}, "less than 1"),
        ({"lr_decay": 1.5}, "less than or equal to 1"),
        ({"l2": float("inf")}, "finite number"),
    ]
    for values, message in refused:
        with pytest.raises(ValidationError) as caught:
            api.TrainingConfig(**values)
        assert message in str(caught.value), values
        with pytest.raises(nn.SpecError):  # and the engine refuses the same value
            nn.TrainingConfig(**values)


def test_enums_are_the_engine_registries_in_order() -> None:
    assert get_args(api.Activation) == tuple(nn.ACTIVATIONS)
    assert get_args(api.HiddenActivation) == tuple(
        name for name, act in nn.ACTIVATIONS.items() if act.elementwise
    )
    assert get_args(api.Cost) == tuple(nn.COSTS)
    assert get_args(api.Init) == tuple(nn.INITIALIZERS)
    assert get_args(api.Optimizer) == tuple(nn.OPTIMIZERS)
    from app.nn.schedules import SCHEDULES

    assert get_args(api.Schedule) == tuple(SCHEDULES)


def test_a_stored_spec_round_trips_to_the_engine() -> None:
    job = api.JobSpec(
        network=api.NetworkSpec(sizes=[2, 3, 1]),
        training=api.TrainingConfig(max_runtime_seconds=5.0, optimizer="adam"),
    )
    again = api.JobSpec.stored(**job.columns())
    assert again == job
    network, config = again.engine()
    assert network == nn.NetworkSpec(sizes=[2, 3, 1])
    assert config == nn.TrainingConfig(optimizer="adam")  # the service's field left out


def test_fields_that_do_not_fit_together_are_refused_by_the_engine() -> None:
    network = api.NetworkSpec(sizes=[2, 3, 1], output_activation="identity")
    with pytest.raises(nn.SpecError) as caught:
        network.engine()
    assert caught.value.field == "network.cost"


# A new schedule registered before the API's models are built: the API's enum, its
# request validation and training follow, with no other change.
NEW_SCHEDULE = """
import importlib.util, json, sys
from types import MappingProxyType

spec = importlib.util.spec_from_file_location("app.nn.schedules", "app/nn/schedules.py")
schedules = importlib.util.module_from_spec(spec)
sys.modules["app.nn.schedules"] = schedules
spec.loader.exec_module(schedules)


class Halving(schedules.Schedule):
    name = "halving"

    def learning_rate(self, epoch, base_lr, config):
        return config.learning_rate / 2 ** (epoch - 1)


schedules.SCHEDULES = MappingProxyType({**schedules.SCHEDULES, "halving": Halving()})

import numpy as np
from app import nn
from app.schemas.jobs import JobCreate
from app.api.main import create_app
from app.config import Settings

enum = create_app(Settings(database_url="sqlite://")).openapi()["components"]["schemas"][
    "TrainingConfig"]["properties"]["lr_schedule"]["enum"]
training = {"lr_schedule": "halving", "epochs": 3, "batch_size": 2}
request = JobCreate.model_validate(
    {"dataset_name": "x", "network": {"sizes": [2, 2, 1]}, "training": training}
)
network, config = request.spec().engine()
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
result = nn.train(network, config, x, np.array([[0], [1], [1], [0]], float))
print(json.dumps({"enum": enum, "rates": [m.learning_rate for m in result.metrics]}))
"""


def test_one_registry_entry_reaches_the_api_and_the_engine() -> None:
    out = subprocess.run(
        [sys.executable, "-c", NEW_SCHEDULE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout)
    assert found["enum"] == ["constant", "step", "plateau", "halving"]
    assert found["rates"] == [0.5, 0.25, 0.125]
