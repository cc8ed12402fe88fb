"""A job's status changes and epoch metrics as Server-Sent Events (``GET /v1/jobs/{id}/events``).

The stream is a pure function of what the database holds, so it can be resumed: every
event's id is the cursor `"{epoch}-{status}"` *after* that event (the last epoch whose
metrics were delivered and the last status delivered). A client that reconnects with
`Last-Event-ID: 12-running` gets the metrics of epoch 13 on and a status event only if the
status is no longer `running`: nothing missed, nothing repeated. A `snapshot` event comes
just before the metrics of its epoch and its id is `"{epoch}s-{status}"` (`15s-running`:
the metrics up to epoch 14 and the snapshot of epoch 15 delivered), so a reconnect between
the two gets the metrics of epoch 15 without the snapshot again.

Events, in the order a poll emits them:

    status   the job document (as GET /v1/jobs/{id}) when its status differs from the last
             one sent; the first event of a fresh stream
    snapshot {"epoch", "epochs"}: the weights after that epoch were kept
             (training.snapshot_every), readable at /weights?epoch=k and
             /plots/decision-boundary.json?epoch=k
    metrics  one per finished epoch, the /metrics item plus "epochs" (the job's total)
    end      {"status", "error"} once the job has finished and everything is sent; then
             the stream closes

A reconnect whose cursor already holds the finished status gets `204 No Content`, which
tells a browser's EventSource to stop reconnecting. The route polls the database (short
sessions in a worker thread, every `POLL_SECONDS`) rather than holding one open.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
from fastapi import Request
from sse_starlette import ServerSentEvent

from app.services.live import FINISHED, STATUSES, JobSnapshot, read_snapshot

POLL_SECONDS = 0.5
PING_SECONDS = 15
RETRY_MS = 1000


@dataclass
class Cursor:
    """What a client has already received: the metrics of epochs up to `epoch`, `status`,
    and `snapshot_of`: the epoch whose snapshot event came after those metrics (if any)."""

    epoch: int = 0
    status: str | None = None
    fresh: bool = field(default=True)
    snapshot_of: int | None = None

    @property
    def event_id(self) -> str:
        if self.snapshot_of is not None:
            return f"{self.snapshot_of}s-{self.status}"
        return f"{self.epoch}-{self.status}"

    @classmethod
    def parse(cls, value: str | None) -> Cursor:
        """A cursor from a Last-Event-ID header; ValueError when it is not one of ours."""
        if not value:
            return cls()
        epoch, sep, status = value.strip().partition("-")
        snapshot = epoch.endswith("s")
        number = epoch[:-1] if snapshot else epoch
        bad_number = not number.isdigit() or (snapshot and int(number) < 1)
        if not sep or bad_number or status not in STATUSES:
            raise ValueError(
                f"Last-Event-ID {value!r} is not an event id of this stream "
                "(expected EPOCH-STATUS, e.g. '12-running')"
            )
        if snapshot:
            n = int(number)
            return cls(epoch=n - 1, status=status, fresh=False, snapshot_of=n)
        return cls(epoch=int(number), status=status, fresh=False)


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=False)


def events_for(snapshot: JobSnapshot, cursor: Cursor) -> list[ServerSentEvent]:
    """The events one poll emits, advancing `cursor` past each of them."""
    events: list[ServerSentEvent] = []
    if snapshot.job["status"] != cursor.status:
        cursor.status = snapshot.job["status"]
        events.append(
            ServerSentEvent(_json(snapshot.job), event="status", id=cursor.event_id, retry=RETRY_MS)
        )
    epochs = snapshot.job["progress"]["epochs"]
    for item in snapshot.metrics:
        epoch = item["epoch"]
        if epoch in snapshot.snapshot_epochs and cursor.snapshot_of != epoch:
            cursor.snapshot_of = epoch
            events.append(
                ServerSentEvent(
                    _json({"epoch": epoch, "epochs": epochs}),
                    event="snapshot",
                    id=cursor.event_id,
                )
            )
        cursor.epoch, cursor.snapshot_of = epoch, None
        events.append(
            ServerSentEvent(
                _json({**item, "epochs": epochs}),
                event="metrics",
                id=cursor.event_id,
            )
        )
    if cursor.status in FINISHED:
        events.append(
            ServerSentEvent(
                _json({"status": cursor.status, "error": snapshot.job.get("error")}),
                event="end",
                id=cursor.event_id,
            )
        )
    return events


async def job_event_stream(
    request: Request, job_id: str, cursor: Cursor, first: JobSnapshot
) -> AsyncIterator[bytes]:
    """Poll the database until the job has finished, yielding what is new each time.

    Each poll's events go out as one chunk, one write: a client that has gone (its
    socket answers with a reset) costs at most one failed write before the server
    notices, where event-by-event writes in a burst of recorded epochs would each fail
    (and asyncio logs every failed write past the fifth). The checkpoint after a chunk
    lets the event loop see a closed connection before the next poll.
    """
    snapshot: JobSnapshot | None = first
    while snapshot is not None:
        yield b"".join(event.encode() for event in events_for(snapshot, cursor))
        await anyio.lowlevel.checkpoint()
        if cursor.status in FINISHED:
            return
        await anyio.sleep(POLL_SECONDS)
        if await request.is_disconnected():
            return
        snapshot = await anyio.to_thread.run_sync(
            read_snapshot, request.app.state.sessionmaker, job_id, cursor.epoch
        )
    # The job was deleted while we watched it.
    deleted = _json({"status": "deleted", "error": None})
    yield ServerSentEvent(deleted, event="end", id=cursor.event_id).encode()
