"""Property-based fuzzing of the whole API against its own OpenAPI schema (schemathesis).

In-process (ASGI) on a fresh migrated database with its lifespan running and one XOR
dataset in it. Every generated request, valid or not, must get a documented status, a
body matching the documented schema and content type, and never a 5xx. Bounded by
``max_examples`` per operation so the module takes well under two minutes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.main import create_app
from app.db.migrate import upgrade_head
from tests.helpers import make_settings

pytestmark = pytest.mark.e2e

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# The schema is loaded at import (schemathesis' lazy ``from_fixture`` does not work with
# pytest 9); the database and the lifespan come up in a module fixture before any call.
_DB_DIR = Path(tempfile.mkdtemp(prefix="backprop-fuzz-"))
_SETTINGS = make_settings(_DB_DIR / "fuzz.db", max_network_parameters=10_000)
APP = create_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
OBSERVED: dict[tuple[str, str], set[int]] = {}


@pytest.fixture(scope="module", autouse=True)
def running_app() -> Iterator[None]:
    upgrade_head(_SETTINGS)
    with TestClient(APP) as client:  # runs the lifespan: engine and sessions on app.state
        seeded = client.post(
            "/v1/datasets/generate", json={"kind": "xor", "n_samples": 40, "name": "xor"}
        )
        assert seeded.status_code == 201
        yield
    shutil.rmtree(_DB_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,  # no .hypothesis/ directory in the work tree
)
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    response = case.call_and_validate(checks=CHECKS)
    OBSERVED.setdefault((case.method.upper(), case.path), set()).add(response.status_code)


def test_fuzzing_reached_every_operation_and_several_statuses() -> None:
    """Runs after the fuzz test (file order): it really exercised the whole API."""
    if not OBSERVED:
        pytest.skip("needs test_api_conforms_to_its_schema to run first (file order)")
    documented = {
        (method.upper(), path)
        for path, operations in APP.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= set(OBSERVED), documented - set(OBSERVED)
    seen = {status for statuses in OBSERVED.values() for status in statuses}
    assert {200, 201, 202, 404, 422} <= seen
    assert not any(status >= 500 for status in seen)


def test_the_schema_documents_every_error_the_guards_answer(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "doc.db"))
    document = app.openapi()
    submit = document["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"202", "400", "404", "409", "413", "422", "429"} <= set(submit)
