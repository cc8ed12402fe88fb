"""`backprop jobs list|show|cancel|delete|follow`, `backprop weights`, `backprop predict`."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.client import BackpropClient, CLIError, command
from app.cli.follow import follow
from app.cli.output import print_json, print_table

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "pruned")
COLUMNS = (
    ("id", "id"),
    ("status", "status"),
    ("epoch", "progress.epoch"),
    ("of", "progress.epochs"),
    ("sizes", "network.sizes"),
    ("dataset", "dataset_id"),
    ("created", "created_at"),
)


@command
def list_(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        jobs = client.list_jobs(args.status, args.limit)
    if args.json:
        print_json(jobs)
    else:
        print_table(jobs, COLUMNS)
    return 0


@command
def show(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        job = client.get_job(args.id)
        if args.metrics:
            job["metrics"] = client.metrics(args.id)
    print_json(job)
    return 0


@command
def cancel(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        client.cancel_job(args.id)
        job = client.get_job(args.id)
    print(
        f"job {args.id}: {job['status']}"
        + (" (cancel requested)" if job["status"] == "running" else "")
    )
    return 0


@command
def delete(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        client.delete_job(args.id)
    print(f"job {args.id} deleted")
    return 0


@command
def follow_(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        return follow(client, args.id)


@command
def weights(args: argparse.Namespace) -> int:
    fmt = args.format or ("npz" if args.output and args.output.endswith(".npz") else "json")
    with BackpropClient() as client:
        data = client.weights(args.id, fmt, args.epoch)
    if args.output in (None, "-"):
        if fmt == "npz":
            raise CLIError("npz weights are binary: give -o FILE")
        sys.stdout.write(data.decode() + "\n")
        return 0
    Path(args.output).write_bytes(data)
    which = f" after epoch {args.epoch}" if args.epoch is not None else ""
    print(f"wrote {len(data)} bytes of {fmt} weights{which} of job {args.id} to {args.output}")
    return 0


def read_inputs(path: str) -> list[list[float]]:
    """Inputs from JSON (`[[...]]` or `{"inputs": [[...]]}`) or CSV (optional header)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from exc
    if path.endswith(".csv"):
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
        try:
            float(rows[0][0])
        except (ValueError, IndexError):
            rows = rows[1:]  # a header row
        try:
            return [[float(v) for v in row] for row in rows]
        except ValueError as exc:
            raise CLIError(f"{path}: {exc}") from exc
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path} is neither a .csv file nor valid JSON: {exc}") from exc
    return doc["inputs"] if isinstance(doc, dict) and "inputs" in doc else doc


@command
def predict(args: argparse.Namespace) -> int:
    inputs = read_inputs(args.inputs)
    with BackpropClient() as client:
        result = client.predict(args.id, inputs)
    print_json(result)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jobs", help="list, show, cancel, delete or follow jobs")
    sub = parser.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="list jobs, newest first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print the JSON documents")
    p.set_defaults(func=list_)
    for name, func, help_ in (
        ("show", show, "one job as JSON"),
        ("cancel", cancel, "cancel a queued or running job"),
        ("delete", delete, "delete a job (cancels it if running)"),
        ("follow", follow_, "progress bar until the job ends"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("id", help="job id")
        if name == "show":
            p.add_argument("--metrics", action="store_true", help="include the loss curve")
        p.set_defaults(func=func)


def register_weights(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("weights", help="download a job's trained weights")
    p.add_argument("id", help="job id")
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write here (.npz: binary); default: JSON on stdout"
    )
    p.add_argument("--format", choices=("json", "npz"), help="default: from the file suffix")
    p.add_argument(
        "--epoch",
        type=int,
        metavar="K",
        help="the snapshot kept after epoch K (jobs with training.snapshot_every)",
    )
    p.set_defaults(func=weights)


def register_predict(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="run a trained network on inputs")
    p.add_argument("id", help="job id")
    p.add_argument(
        "--inputs",
        required=True,
        metavar="FILE",
        help='JSON ([[...]] or {"inputs": [[...]]}) or CSV; - for stdin',
    )
    p.set_defaults(func=predict)
