"""GET /v1/jobs/{id}/events: order, resume with Last-Event-ID, end of stream."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.helpers import Driver, ThreadServer, make_dataset, make_job

END = object()


class Reader:
    """Reads a job's event stream in a thread; `next()` returns (event, id, data)."""

    def __init__(self, url: str, job_id: str, last_event_id: str | None = None) -> None:
        self.events: queue.Queue[Any] = queue.Queue()
        self.stop = threading.Event()
        self.status_code: int | None = None
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self.thread = threading.Thread(target=self._run, args=(url, job_id, headers), daemon=True)
        self.thread.start()

    def _run(self, url: str, job_id: str, headers: dict[str, str]) -> None:
        try:
            with (
                httpx.Client(base_url=url, timeout=httpx.Timeout(30)) as client,
                connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", headers=headers) as source,
            ):
                self.status_code = source.response.status_code
                if self.status_code == 200:
                    for sse in source.iter_sse():
                        if sse.event == "message" and not sse.data:
                            continue  # a keep-alive ping
                        self.events.put((sse.event, sse.id, json.loads(sse.data)))
                        if self.stop.is_set():
                            break
        finally:
            self.events.put(END)

    def next(self, timeout: float = 10) -> Any:
        return self.events.get(timeout=timeout)

    def take(self, n: int) -> list[tuple[str, str, dict[str, Any]]]:
        items = [self.next() for _ in range(n)]
        assert END not in items, f"stream ended early: {items}"
        return items

    def rest(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Everything until the stream closes (fails if it does not close)."""
        items = []
        while (item := self.next()) is not END:
            items.append(item)
        self.thread.join(timeout=5)
        return items


def kinds(items: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str]]:
    return [(event, id_) for event, id_, _ in items]


def test_events_arrive_in_order_as_they_land_and_the_stream_closes(
    server: ThreadServer, api: httpx.Client, driver: Driver
) -> None:
    job = make_job(api, make_dataset(api), epochs=3)
    reader = Reader(server.url, job["id"])
    event, id_, data = reader.next()
    assert (event, id_) == ("status", "0-queued")
    assert data["id"] == job["id"] and data["progress"] == {
        "epoch": 0,
        "epochs": 3,
        "eta_seconds": None,
    }
    lease = driver.claim()
    assert kinds(reader.take(1)) == [("status", "0-running")]
    for epoch in (1, 2, 3):
        driver.epoch(lease, epoch)
        ((event, id_, data),) = reader.take(1)
        assert (event, id_) == ("metrics", f"{epoch}-running")
        assert data["epoch"] == epoch and data["epochs"] == 3
        assert data["train_loss"] == pytest.approx(1.0 / epoch)
    driver.finish(lease)
    rest = reader.rest()
    assert kinds(rest) == [("status", "3-succeeded"), ("end", "3-succeeded")]
    assert rest[-1][2] == {"status": "succeeded", "error": None}


def test_a_finished_job_replays_everything_then_ends(
    server: ThreadServer, api: httpx.Client, driver: Driver
) -> None:
    job = make_job(api, make_dataset(api), epochs=4)
    lease = driver.claim()
    for epoch in range(1, 5):
        driver.epoch(lease, epoch)
    driver.finish(lease, "failed", error="training diverged at epoch 4")
    items = Reader(server.url, job["id"]).rest()
    assert kinds(items) == [("status", "0-failed")] + [
        ("metrics", f"{e}-failed") for e in range(1, 5)
    ] + [("end", "4-failed")]
    assert items[-1][2]["error"] == "training diverged at epoch 4"


def test_resume_with_last_event_id_misses_nothing_and_repeats_nothing(
    server: ThreadServer, api: httpx.Client, driver: Driver
) -> None:
    job = make_job(api, make_dataset(api), epochs=8)
    lease = driver.claim()
    driver.epoch(lease, 1)
    driver.epoch(lease, 2)
    first = Reader(server.url, job["id"])
    got = first.take(3)  # running, epoch 1, epoch 2
    first.stop.set()
    driver.epoch(lease, 3)  # lands while the client is away...
    first.rest()
    driver.epoch(lease, 4)
    last_id = got[-1][1]
    assert last_id == "2-running"
    second = Reader(server.url, job["id"], last_event_id=last_id)
    got += second.take(2)  # ...and arrives after the reconnect, once
    # The worker loses its lease and a new one restarts from the epoch-2 checkpoint:
    # epochs 3 and 4 are recomputed, but the client already has them.
    driver.reset(lease, 2)
    driver.epoch(lease, 3)
    driver.epoch(lease, 4)
    for epoch in range(5, 9):
        driver.epoch(lease, epoch)
    driver.finish(lease)
    got += second.rest()
    epochs = [data["epoch"] for event, _, data in got if event == "metrics"]
    assert epochs == list(range(1, 9))
    assert [e for e, _, _ in got if e != "metrics"] == ["status", "status", "end"]


def test_resume_from_every_event_of_a_finished_job(
    server: ThreadServer, api: httpx.Client, driver: Driver
) -> None:
    job = make_job(api, make_dataset(api), epochs=3)
    lease = driver.claim()
    for epoch in range(1, 4):
        driver.epoch(lease, epoch)
    driver.finish(lease)
    full = Reader(server.url, job["id"]).rest()
    for i, (_, id_, _) in enumerate(full[:-2]):
        assert Reader(server.url, job["id"], last_event_id=id_).rest() == full[i + 1 :]
    # After the last metrics (or the end event) there is nothing left: 204 tells an
    # EventSource to stop reconnecting.
    for _, id_, _ in full[-2:]:
        response = api.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": id_})
        assert response.status_code == 204


def test_stream_ends_when_the_job_is_deleted(
    server: ThreadServer, api: httpx.Client, driver: Driver
) -> None:
    job = make_job(api, make_dataset(api), epochs=3)
    reader = Reader(server.url, job["id"])
    reader.take(1)
    assert api.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert kinds(reader.rest()) == [("end", "0-queued")]


def test_cancelled_job_stream(server: ThreadServer, api: httpx.Client) -> None:
    job = make_job(api, make_dataset(api), epochs=3)
    reader = Reader(server.url, job["id"])
    reader.take(1)
    assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 202
    assert kinds(reader.rest()) == [("status", "0-cancelled"), ("end", "0-cancelled")]


def test_unknown_job_is_404(api: httpx.Client) -> None:
    response = api.get("/v1/jobs/nope/events")
    assert response.status_code == 404
    assert response.json() == {"detail": "job 'nope' not found"}


@pytest.mark.parametrize("bad", ["garbage", "3", "-running", "3-sleeping", "x-running"])
def test_malformed_last_event_id_is_400(api: httpx.Client, bad: str) -> None:
    job = make_job(api, make_dataset(api))
    response = api.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": bad})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"Last-Event-ID {bad!r} is not an event id of this stream "
        "(expected EPOCH-STATUS, e.g. '12-running')"
    )


def test_stream_headers(server: ThreadServer, api: httpx.Client) -> None:
    job = make_job(api, make_dataset(api))
    api.post(f"/v1/jobs/{job['id']}/cancel")
    started = time.monotonic()
    response = api.get(f"/v1/jobs/{job['id']}/events")
    assert time.monotonic() - started < 5
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert "retry: 1000" in response.text


@pytest.mark.parametrize("bad", ["s-running", "0s-running", "3ss-running", "s3-running"])
def test_malformed_snapshot_event_ids_are_400(api: httpx.Client, bad: str) -> None:
    job = make_job(api, make_dataset(api))
    response = api.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": bad})
    assert response.status_code == 400, bad


def test_snapshots_are_announced_before_their_epoch_and_resume_exactly(
    server: ThreadServer, api: httpx.Client, driver: Driver
) -> None:
    """A `snapshot` event precedes the metrics of its epoch with id `{epoch}s-{status}`;
    resuming from any event's id gives exactly the events after it, snapshots included."""
    job = make_job(api, make_dataset(api), epochs=5, snapshot_every=2)
    reader = Reader(server.url, job["id"])
    assert kinds(reader.take(1)) == [("status", "0-queued")]
    lease = driver.claim()
    assert kinds(reader.take(1)) == [("status", "0-running")]
    driver.epoch(lease, 1)
    assert kinds(reader.take(1)) == [("metrics", "1-running")]
    driver.epoch(lease, 2, snapshot=b"weights after epoch 2")
    snapshot, metrics = reader.take(2)
    assert snapshot == ("snapshot", "2s-running", {"epoch": 2, "epochs": 5})
    assert metrics[:2] == ("metrics", "2-running")
    driver.epoch(lease, 3)
    assert kinds(reader.take(1)) == [("metrics", "3-running")]
    driver.epoch(lease, 4, snapshot=b"weights after epoch 4")
    assert kinds(reader.take(2)) == [("snapshot", "4s-running"), ("metrics", "4-running")]
    driver.epoch(lease, 5)
    assert kinds(reader.take(1)) == [("metrics", "5-running")]
    driver.finish(lease)
    assert kinds(reader.rest()) == [("status", "5-succeeded"), ("end", "5-succeeded")]

    full = Reader(server.url, job["id"]).rest()
    assert kinds(full) == [
        ("status", "0-succeeded"),
        ("metrics", "1-succeeded"),
        ("snapshot", "2s-succeeded"),
        ("metrics", "2-succeeded"),
        ("metrics", "3-succeeded"),
        ("snapshot", "4s-succeeded"),
        ("metrics", "4-succeeded"),
        ("metrics", "5-succeeded"),
        ("end", "5-succeeded"),
    ]
    for i, (_, id_, _) in enumerate(full[:-2]):
        assert Reader(server.url, job["id"], last_event_id=id_).rest() == full[i + 1 :], id_
    # A client that saw the snapshot while the job ran gets the rest, status included.
    resumed = Reader(server.url, job["id"], last_event_id="4s-running").rest()
    assert kinds(resumed) == [
        ("status", "4s-succeeded"),
        ("metrics", "4-succeeded"),
        ("metrics", "5-succeeded"),
        ("end", "5-succeeded"),
    ]
