"""The event stream's events (``GET /v1/jobs/{id}/events``), as the OpenAPI document
describes them: each event's name, its id (the cursor ``EPOCH-STATUS``) and the JSON
schema of its ``data``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from app.db.models import FINISHED_STATUSES, JobStatus
from app.schemas.jobs import MetricRow

if TYPE_CHECKING:
    EndStatus = str
else:
    EndStatus = Literal[(*FINISHED_STATUSES, "deleted")]


class StreamEnd(BaseModel):
    """The last event: the job's final status (``deleted`` when the job was deleted while
    it was watched) and its error."""

    status: EndStatus
    error: str | None


SNAPSHOT_EVENT = {
    "title": "SnapshotEvent",
    "type": "object",
    "required": ["epoch", "epochs"],
    "properties": {
        "epoch": {"type": "integer", "description": "The epoch whose weights were kept."},
        "epochs": {"type": "integer", "description": "The job's total epochs."},
    },
}


def metric_event_schema() -> dict[str, Any]:
    """A ``metrics`` event's data: the metrics row (``MetricRow.event()``, no per-layer
    health) and the job's total ``epochs``."""
    schema = MetricRow.model_json_schema()
    schema.pop("$defs", None)
    schema["properties"].pop("health")
    schema["properties"]["epochs"] = {"type": "integer", "description": "The job's total epochs."}
    schema["required"] = [*(r for r in schema["required"] if r != "health"), "epochs"]
    schema["title"] = "MetricEvent"
    schema["description"] = "One finished epoch of the loss curve, and the total epochs."
    return schema


#: Every event id: the last epoch and the last status delivered (``15s-running``: the
#: metrics up to epoch 14 and the snapshot of epoch 15).
EVENT_ID = {
    "type": "string",
    "pattern": "^[0-9]+s?-(" + "|".join(s.value for s in JobStatus) + ")$",
}


def _event(name: str, data: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["event", "id", "data"],
        "properties": {
            "event": {"const": name},
            "id": EVENT_ID,
            "retry": {"type": "integer", "minimum": 0},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
    }


def stream_schema() -> dict[str, Any]:
    """The schema of one event of the stream (OpenAPI 3.1: ``schema`` of
    ``text/event-stream`` describes each event)."""
    return {
        "oneOf": [
            _event(
                "status",
                {"$ref": "#/components/schemas/Job"},
                "The job document (as GET /v1/jobs/{id}), first and whenever the status changes.",
            ),
            _event(
                "snapshot",
                SNAPSHOT_EVENT,
                "The weights after this epoch were kept (training.snapshot_every): "
                "GET /v1/jobs/{id}/weights?epoch=k and the decision boundary ?epoch=k.",
            ),
            _event("metrics", metric_event_schema(), "One finished epoch."),
            _event(
                "end", StreamEnd.model_json_schema(), "The job has finished; the stream closes."
            ),  # fmt: skip
        ]
    }
