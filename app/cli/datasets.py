"""`backprop datasets upload|generate|list`: datasets through the REST API."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.client import BackpropClient, CLIError, command
from app.cli.output import print_json, print_table

KINDS = ("xor", "circles", "moons", "spirals", "blobs", "sine")
COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("samples", "n_samples"),
    ("features", "n_features"),
    ("outputs", "n_outputs"),
    ("task", "task"),
    ("created", "created_at"),
)


@command
def upload(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from exc
    form = {"name": args.name or path.stem, "task": args.task}
    if args.target:
        form["target"] = args.target
    with BackpropClient() as client:
        dataset = client.upload_dataset(path.name, content, form)
    print_json(dataset)
    return 0


@command
def generate(args: argparse.Namespace) -> int:
    body = {"kind": args.kind, "n_samples": args.n_samples, "noise": args.noise, "seed": args.seed}
    if args.name:
        body["name"] = args.name
    with BackpropClient() as client:
        dataset = client.generate_dataset(body)
    print_json(dataset)
    return 0


@command
def list_(args: argparse.Namespace) -> int:
    with BackpropClient() as client:
        datasets = client.list_datasets(args.limit)
    if args.json:
        print_json(datasets)
    else:
        print_table(datasets, COLUMNS)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="upload, generate and list datasets")
    sub = parser.add_subparsers(dest="datasets_command", required=True, metavar="COMMAND")

    p = sub.add_parser("upload", help="upload a CSV (with header) or .npz file")
    p.add_argument(
        "file", help="CSV file with a header row, or .npz with inputs and targets/labels"
    )
    p.add_argument("--target", help="CSV target column(s), comma-separated (default: last)")
    p.add_argument("--name", help="dataset name (default: the file name)")
    p.add_argument("--task", choices=("auto", "classification", "regression"), default="auto")
    p.set_defaults(func=upload)

    p = sub.add_parser("generate", help="generate a toy dataset")
    p.add_argument("kind", choices=KINDS)
    p.add_argument("--n-samples", type=int, default=200)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name")
    p.set_defaults(func=generate)

    p = sub.add_parser("list", help="list datasets")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print the JSON documents")
    p.set_defaults(func=list_)
