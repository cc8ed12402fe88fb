"""Follow a job's event stream with a progress bar (epoch, loss, accuracy, ETA).

Exit codes of `--follow`: 0 the job succeeded, 3 it failed, 4 it was cancelled (or
deleted, or pruned by its sweep); 1 for API and connection errors, as every command. A
dropped connection is resumed with Last-Event-ID, so no epoch is shown twice or skipped.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.cli.client import BackpropClient, CLIError

EXIT_CODES = {"succeeded": 0, "failed": 3, "cancelled": 4, "deleted": 4, "pruned": 4}
RECONNECTS = 5


@dataclass
class FollowState:
    """What the stream has told us so far."""

    job_id: str
    status: str = "queued"
    epoch: int = 0
    epochs: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    last_event_id: str | None = None
    ended: bool = False


def describe(state: FollowState) -> str:
    """One line: epoch, losses and accuracies of the latest epoch. Losses keep four
    significant digits (a loss of 5.6e-4 is not "0.0000"); accuracies four decimals."""
    parts = [f"epoch {state.epoch}/{state.epochs}"]
    for key, label, fmt in (
        ("train_loss", "loss", ".4g"),
        ("train_accuracy", "accuracy", ".4f"),
        ("validation_loss", "val loss", ".4g"),
        ("validation_accuracy", "val accuracy", ".4f"),
    ):
        value = state.last.get(key)
        if value is not None:
            parts.append(f"{label} {value:{fmt}}")
    return ", ".join(parts)


class Display:
    """A rich progress bar on a terminal; plain lines (about ten per job) otherwise."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.live = sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None
        self.printed_epoch = 0
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]{task.fields[status]}[/]"),
                TextColumn("epoch"),
                MofNCompleteColumn(),
                BarColumn(),
                TextColumn("{task.fields[metrics]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=None, status="queued", metrics="")

    def update(self, state: FollowState) -> None:
        if self.live:
            metrics = describe(state).partition(", ")[2]
            self.progress.update(
                self.task,
                completed=state.epoch,
                total=state.epochs or None,
                status=state.status,
                metrics=metrics,
            )
            return
        step = max(1, state.epochs // 10)
        if state.epoch and (
            state.epoch - self.printed_epoch >= step or state.epoch == state.epochs
        ):
            self.printed_epoch = state.epoch
            print(f"{state.status} {describe(state)}", file=sys.stderr, flush=True)

    def status(self, state: FollowState) -> None:
        if self.live:
            self.update(state)
        else:
            print(f"job {state.job_id}: {state.status}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live:
            self.progress.stop()


def _apply(state: FollowState, event: str, data: dict[str, Any], display: Display) -> None:
    if event == "status":
        state.status = data["status"]
        state.epochs = data.get("progress", {}).get("epochs", state.epochs)
        state.error = data.get("error")
        display.status(state)
    elif event == "metrics":
        if state.status == "queued":  # it ran between two polls of the stream
            state.status = "running"
        state.epoch = data["epoch"]
        state.epochs = data.get("epochs", state.epochs)
        state.last = data
        display.update(state)
    elif event == "end":
        state.status = data["status"]
        state.error = data.get("error") or state.error
        state.ended = True


def follow(client: BackpropClient, job_id: str) -> int:
    """Show the job's progress until it ends; return the exit code for its outcome."""
    state = FollowState(job_id=job_id)
    display = Display(job_id)
    failures = 0
    try:
        while not state.ended:
            try:
                for sse in client.events(job_id, state.last_event_id):
                    if sse.event not in ("status", "metrics", "end"):
                        continue  # keep-alive pings (SSE comments) carry no data
                    _apply(state, sse.event, json.loads(sse.data), display)
                    state.last_event_id = sse.id or state.last_event_id
                    failures = 0
                if not state.ended:  # 204 or a stream cut without an end event
                    job = client.get_job(job_id)
                    if job["status"] in EXIT_CODES:
                        state.status, state.error, state.ended = job["status"], job["error"], True
            except httpx.TransportError as exc:
                failures += 1
                if failures > RECONNECTS:
                    raise CLIError(
                        f"lost the event stream of job {job_id} at {client.base_url}: {exc}"
                    ) from exc
                time.sleep(min(2.0**failures / 4, 5.0))
    except KeyboardInterrupt:
        display.close()
        print(
            f"stopped following; job {job_id} goes on (`backprop jobs cancel {job_id}` stops it)",
            file=sys.stderr,
        )
        return 130
    display.close()
    summary = f"job {job_id} {state.status}: {describe(state)}"
    if state.error:
        summary += f"; error: {state.error}"
    print(summary)
    return EXIT_CODES.get(state.status, 1)
