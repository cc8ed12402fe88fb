"""The event stream's events match the schema the OpenAPI document gives them, field by
field and (decoded) in their JSON data, for every kind of event."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
from httpx_sse import connect_sse

from tests.helpers import Driver, ThreadServer, make_dataset, make_job


def read_all(url: str, job_id: str) -> list[dict[str, Any]]:
    """Every event of a finished job's stream, as schemathesis parses them."""
    events = []
    with (
        httpx.Client(base_url=url, timeout=30) as client,
        connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source,
    ):
        for sse in source.iter_sse():
            if not sse.data:
                continue  # a keep-alive
            event = {"event": sse.event, "id": sse.id, "data": sse.data}
            if sse.retry is not None:
                event["retry"] = sse.retry
            events.append(event)
    return events


def test_every_event_matches_its_documented_schema(
    server: ThreadServer, api: httpx.Client, driver: Driver
) -> None:
    document = api.get("/openapi.json").json()
    operation = document["paths"]["/v1/jobs/{job_id}/events"]["get"]
    schema = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
    # "#/components/..." references resolve inside the root schema: carry the components.
    components = {"components": document["components"]}
    validator = jsonschema.Draft202012Validator({**schema, **components})

    job = make_job(api, make_dataset(api), epochs=3)
    lease = driver.claim()
    for epoch in (1, 2, 3):
        driver.epoch(lease, epoch)
    driver.finish(lease)
    events = read_all(server.url, job["id"])
    assert [e["event"] for e in events] == ["status", "metrics", "metrics", "metrics", "end"]

    by_name = {s["properties"]["event"]["const"]: s for s in schema["oneOf"]}
    for event in events:
        validator.validate(event)  # the event's fields: name, id, retry, data as text
        data_schema = by_name[event["event"]]["properties"]["data"]["contentSchema"]
        jsonschema.Draft202012Validator({**data_schema, **components}).validate(
            json.loads(event["data"])
        )


def test_a_wrong_event_is_refused_by_the_documented_schema(api: httpx.Client) -> None:
    """The schema is not vacuous: an unknown event or a malformed id fails it."""
    schema = api.get("/openapi.json").json()["paths"]["/v1/jobs/{job_id}/events"]["get"][
        "responses"
    ]["200"]["content"]["text/event-stream"]["schema"]
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"event": "progress", "id": "1-running", "data": "{}"})
    assert not validator.is_valid({"event": "metrics", "id": "one-running", "data": "{}"})
    assert validator.is_valid({"event": "end", "id": "3-succeeded", "data": "{}"})
