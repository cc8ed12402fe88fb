"""`backprop export`, `backprop replay`, `backprop receipt`, `backprop lineage`
(docs/reproducibility.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli.client import BackpropClient, CLIError, command
from app.cli.follow import follow
from app.cli.output import print_json, print_table

#: `backprop replay --follow` exits 0 when the replay matches bit for bit, this when it
#: finished but differs (the follow codes otherwise: 3 failed, 4 cancelled).
EXIT_DIFFERS = 5


@command
def export(args: argparse.Namespace) -> int:
    output = args.output or f"model-{args.id}.onnx"
    with BackpropClient() as client:
        data = client.model_onnx(args.id)
    try:
        Path(output).write_bytes(data)
    except OSError as exc:
        raise CLIError(f"cannot write {output}: {exc.strerror}") from exc
    print(f"wrote the ONNX model of job {args.id} ({len(data)} bytes) to {output}")
    return 0


def describe_verdict(verdict: dict[str, Any]) -> str:
    """One line (and the differing receipt fields) for a replay's verdict."""
    of = verdict["of"]
    if verdict.get("matches") is None:
        why = verdict.get("first_difference") or "not compared"
        return f"replay of {of}: no verdict ({why})"
    if verdict["matches"]:
        line = f"replay of {of}: MATCHES bit for bit (weights and every metric row)"
    else:
        line = (
            f"replay of {of}: DIFFERS, max |diff| {verdict.get('max_abs_diff')}; "
            f"first difference: {verdict.get('first_difference')}"
        )
    differences = verdict.get("differences") or []
    if differences:
        line += "\nreceipt fields that differ: " + ", ".join(differences)
    return line


@command
def replay(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        job = client.replay(args.id)
        if not args.follow:
            print_json(job)
            return 0
        print(f"job {job['id']} queued (replay of {args.id})", flush=True)
        code = follow(client, job["id"])
        verdict = client.get_job(job["id"]).get("replay")
    if code != 0 or not verdict:
        return code
    print(describe_verdict(verdict))
    return 0 if verdict.get("matches") else EXIT_DIFFERS


@command
def receipt(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        print_json(client.receipt(args.id))
    return 0


LINEAGE_COLUMNS = (
    ("id", "id"),
    ("status", "status"),
    ("epochs", "progress.epoch"),
    ("from", "from_mode"),
    ("parent", "parent_id"),
    ("created", "created_at"),
)


@command
def lineage(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        job = client.get_job(args.id)
        found = client.lineage(args.id)
    if args.json:
        print_json(found)
        return 0
    print_table([job, *found["ancestors"]], LINEAGE_COLUMNS)
    if found.get("missing"):
        print(f"(ancestor {found['missing']} was deleted)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="download a finished job's model as ONNX")
    p.add_argument("id", help="job id")
    p.add_argument("-o", "--output", metavar="FILE", help="default: model-ID.onnx")
    p.set_defaults(func=export)

    p = subparsers.add_parser(
        "replay",
        help="rerun a job with the same inputs and compare",
        description="Queue a job with the same inputs as ID. With --follow, watch it and "
        "print the verdict: exit 0 if it matches bit for bit, 5 if it differs (3 failed, "
        "4 cancelled).",
    )
    p.add_argument("id", help="job id (a succeeded job)")
    p.add_argument("--follow", action="store_true", help="watch the replay, print the verdict")
    p.set_defaults(func=replay)

    p = subparsers.add_parser("receipt", help="a job's reproducibility receipt (JSON)")
    p.add_argument("id", help="job id")
    p.set_defaults(func=receipt)

    p = subparsers.add_parser("lineage", help="the job and the jobs it descends from")
    p.add_argument("id", help="job id")
    p.add_argument("--json", action="store_true", help="print the JSON document")
    p.set_defaults(func=lineage)
