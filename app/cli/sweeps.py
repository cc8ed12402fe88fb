"""`backprop sweep create|show|list|cancel|delete`: hyperparameter sweeps (docs/sweeps.md).

`sweep create --spec FILE --follow` and `sweep show ID --follow` keep a live
leaderboard until the sweep ends (a table redrawn on a terminal, one line per ended
trial otherwise) and exit 0 when it succeeded, 3 failed, 4 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.cli.client import BackpropClient, CLIError, command
from app.cli.output import cell, print_json, print_table

EXIT_CODES = {"succeeded": 0, "failed": 3, "cancelled": 4}
POLL_SECONDS = 1.0
COLUMNS = (
    ("rank", "rank"),
    ("trial", "number"),
    ("status", "status"),
    ("value", "value"),
    ("epochs", "epochs"),
    ("params", "params_text"),
    ("job", "job_id"),
)
LIST_COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("status", "status"),
    ("trials", "trials_text"),
    ("best", "best.value"),
    ("created", "created_at"),
)


def params_text(params: dict[str, Any]) -> str:
    """``learning_rate=0.5 sizes=64-30-10``: the field names without their section."""
    return " ".join(f"{path.partition('.')[2]}={cell(value)}" for path, value in params.items())


def leaderboard(sweep: dict[str, Any], trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials best first: those with a value (completed, then pruned) by the objective's
    direction, then the running ones by their latest value, then the rest by number."""
    sign = -1.0 if sweep["objective"]["direction"] == "maximize" else 1.0

    def key(t: dict[str, Any]) -> tuple[int, float, int]:
        if t["value"] is not None:
            return (0 if t["status"] == "succeeded" else 1, sign * t["value"], t["number"])
        if t["status"] in ("queued", "running") and t.get("latest") is not None:
            return (2, sign * t["latest"], t["number"])
        return (3, 0.0, t["number"])

    rows = []
    for rank, t in enumerate(sorted(trials, key=key), start=1):
        value = t["value"] if t["value"] is not None else t.get("latest")
        rows.append({**t, "rank": rank, "value": value, "params_text": params_text(t["params"])})
    return rows


def summary(sweep: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(sweep["counts"].items()))
    text = f"sweep {sweep['id']} ({sweep['name']}) {sweep['status']}: {counts or 'no trials'}"
    text += f" of {sweep['max_trials']}"
    best = sweep.get("best")
    if best:
        metric = sweep["objective"]["metric"]
        text += (
            f"; best trial {best['number']} {metric} {best['value']:.4g} "
            f"({params_text(best['params'])}, job {best['job_id']})"
        )
    if sweep.get("error"):
        text += f"; error: {sweep['error']}"
    return text


def _fetch(client: BackpropClient, sweep_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sweep = client.json("GET", f"/v1/sweeps/{sweep_id}")
    trials = client.json("GET", f"/v1/sweeps/{sweep_id}/trials")["items"]
    return sweep, trials


def _table(sweep: dict[str, Any], trials: list[dict[str, Any]], top: int) -> Any:
    from rich.table import Table

    table = Table(title=summary(sweep), title_justify="left")
    for header, _ in COLUMNS:
        table.add_column(header, justify="right" if header in ("rank", "trial") else "left")
    for row in leaderboard(sweep, trials)[:top]:
        table.add_row(*(cell(row.get(key)) for _, key in COLUMNS))
    return table


def follow(client: BackpropClient, sweep_id: str, top: int = 15) -> int:
    """Show the leaderboard until the sweep ends; return the exit code for its outcome."""
    live_display = None
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.live import Live

        live_display = Live(console=Console(stderr=True), refresh_per_second=4)
        live_display.start()
    reported: set[int] = set()
    try:
        while True:
            sweep, trials = _fetch(client, sweep_id)
            if live_display is not None:
                live_display.update(_table(sweep, trials, top))
            else:
                for t in trials:
                    if t["number"] in reported or t["status"] in (None, "queued", "running"):
                        continue
                    reported.add(t["number"])
                    print(
                        f"trial {t['number']} {t['status']} after {t['epochs']} epochs: "
                        f"{sweep['objective']['metric']} {cell(t['value'])} "
                        f"({params_text(t['params'])})",
                        file=sys.stderr,
                        flush=True,
                    )
            if sweep["status"] in EXIT_CODES and sweep["finished_at"] is not None:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        if live_display is not None:
            live_display.stop()
        print(
            f"stopped following; sweep {sweep_id} goes on "
            f"(`backprop sweep cancel {sweep_id}` stops it)",
            file=sys.stderr,
        )
        return 130
    if live_display is not None:
        live_display.stop()
    print_table(leaderboard(sweep, trials)[:top], COLUMNS)
    print(summary(sweep))
    return EXIT_CODES.get(sweep["status"], 1)


def read_spec(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CLIError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(spec, dict):
        raise CLIError(f"{path}: a sweep spec is a JSON object (see docs/sweeps.md)")
    return spec


@command
def create(args: argparse.Namespace) -> int:
    spec = read_spec(args.spec)
    with BackpropClient() as client:
        sweep = client.json("POST", "/v1/sweeps", json=spec)
        print(f"sweep {sweep['id']} created: {sweep['max_trials']} trials, "
              f"{sweep['parallelism']} at a time", file=sys.stderr)  # fmt: skip
        if args.follow:
            return follow(client, sweep["id"])
    print(sweep["id"])
    return 0


@command
def show(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        if args.follow:
            return follow(client, args.id)
        sweep, trials = _fetch(client, args.id)
    if args.json:
        print_json({**sweep, "trials": trials})
        return 0
    print_table(leaderboard(sweep, trials), COLUMNS)
    print(summary(sweep))
    return 0


@command
def list_(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        items = client.json("GET", "/v1/sweeps", params={"limit": args.limit})["items"]
    if args.json:
        print_json(items)
        return 0
    for s in items:
        s["trials_text"] = f"{sum(s['counts'].values())}/{s['max_trials']}"
    print_table(items, LIST_COLUMNS)
    return 0


@command
def cancel(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        sweep = client.json("POST", f"/v1/sweeps/{args.id}/cancel")
    print(summary(sweep))
    return 0


@command
def delete(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        client.request("DELETE", f"/v1/sweeps/{args.id}")
    print(f"sweep {args.id} deleted")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help="hyperparameter sweeps (Optuna)")
    sub = parser.add_subparsers(dest="sweep_command", required=True, metavar="COMMAND")
    p = sub.add_parser("create", help="start a sweep from a JSON spec (docs/sweeps.md)")
    p.add_argument("--spec", required=True, metavar="FILE", help="the sweep as JSON; - for stdin")
    p.add_argument("--follow", action="store_true", help="live leaderboard until it ends")
    p.set_defaults(func=create)
    p = sub.add_parser("show", help="a sweep and its leaderboard")
    p.add_argument("id", help="sweep id")
    p.add_argument("--follow", action="store_true", help="live leaderboard until it ends")
    p.add_argument("--json", action="store_true", help="the sweep and its trials as JSON")
    p.set_defaults(func=show)
    p = sub.add_parser("list", help="sweeps, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print the JSON documents")
    p.set_defaults(func=list_)
    for name, func, help_ in (
        ("cancel", cancel, "stop a sweep (queued trials cancelled, running ones stopped)"),
        ("delete", delete, "delete a sweep and its trials' jobs"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("id", help="sweep id")
        p.set_defaults(func=func)
