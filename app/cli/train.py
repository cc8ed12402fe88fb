"""`backprop train`: submit a job from flags or a spec file, optionally `--follow` it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.cli.client import BackpropClient, CLIError, command
from app.cli.follow import follow
from app.cli.output import print_json

# (flag, section, key, type, help); only flags given on the command line are sent, so
# the API's defaults apply to the rest (and override the same key from --spec).
OPTIONS: tuple[tuple[str, str, str, Any, str], ...] = (
    ("--hidden-activation", "network", "hidden_activation", str, "sigmoid, tanh, relu, identity"),
    (
        "--output-activation",
        "network",
        "output_activation",
        str,
        "sigmoid, tanh, relu, identity, softmax",
    ),
    ("--cost", "network", "cost", str, "quadratic, cross_entropy, log_likelihood"),
    ("--init", "network", "init", str, "default, large, xavier, he"),
    ("--epochs", "training", "epochs", int, "passes over the training data"),
    ("--batch-size", "training", "batch_size", int, "mini-batch size"),
    ("--learning-rate", "training", "learning_rate", float, "η"),
    ("--l2", "training", "l2", float, "L2 strength λ"),
    ("--optimizer", "training", "optimizer", str, "sgd, momentum, adam"),
    ("--momentum", "training", "momentum", float, "μ for the momentum optimizer"),
    (
        "--validation-fraction",
        "training",
        "validation_fraction",
        float,
        "share of samples held out for validation",
    ),
    ("--seed", "training", "seed", int, "random seed (init, shuffling, split)"),
    ("--dtype", "training", "dtype", str, "float32 or float64"),
    (
        "--snapshot-every",
        "training",
        "snapshot_every",
        int,
        "keep the weights every K epochs (backprop weights ID --epoch K)",
    ),
)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes comma-separated integers like 2,8,1, got {text!r}"
        ) from None
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"--sizes needs at least 2 layers, got {text!r}")
    return sizes


def _load_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise CLIError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise CLIError(f"{what} {path} is not valid JSON: {exc}") from exc


def build_job(args: argparse.Namespace) -> dict[str, Any]:
    """The JobCreate body: the spec file (if any), then the flags on top of it."""
    body: dict[str, Any] = _load_json(args.spec, "spec file") if args.spec else {}
    if not isinstance(body, dict):
        raise CLIError(f"spec file {args.spec} must hold a JSON object (a JobCreate)")
    body.setdefault("network", {})
    body.setdefault("training", {})
    if args.dataset:
        body["dataset_id"] = args.dataset
    if args.sizes:
        body["network"]["sizes"] = args.sizes
    for flag, section, key, _, _ in OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            body[section][key] = value
    if args.no_shuffle:
        body["training"]["shuffle"] = False
    if args.initial_weights:
        weights = _load_json(args.initial_weights, "weights file")
        body["initial_weights"] = weights.get("layers") if isinstance(weights, dict) else weights
    if args.from_job:
        body["from_job"] = {"id": args.from_job, "mode": args.mode or "continue"}
    elif args.mode:
        raise CLIError("--mode goes with --from-job ID")
    if "from_job" in body:  # the parent fills in what is not given
        for section in ("network", "training"):
            if not body[section]:
                del body[section]
        return body
    if "dataset_id" not in body:
        raise CLIError("train needs --dataset ID (or a spec file with dataset_id)")
    if "sizes" not in body["network"]:
        raise CLIError("train needs --sizes like 2,8,1 (or a spec file with network.sizes)")
    return body


@command
def train(args: argparse.Namespace) -> int:
    body = build_job(args)
    with BackpropClient() as client:
        job = client.create_job(body)
        if not args.follow:
            print_json(job)
            return 0
        print(f"job {job['id']} queued", flush=True)
        return follow(client, job["id"])


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="submit a training job",
        description="Submit a job from flags (--dataset, --sizes, ...) or a JobCreate JSON "
        "file (--spec); flags override the file. With --follow, show a live "
        "progress bar and exit 0 if the job succeeded, 3 failed, 4 cancelled.",
    )
    p.add_argument("--spec", metavar="FILE", help="JobCreate JSON (docs/design.md §3)")
    p.add_argument("--dataset", metavar="ID", help="dataset id")
    p.add_argument("--sizes", type=parse_sizes, help="layer sizes, e.g. 2,8,1")
    for flag, _, _, type_, help_ in OPTIONS:
        p.add_argument(flag, type=type_, help=help_)
    p.add_argument("--no-shuffle", action="store_true", help="keep the sample order")
    p.add_argument(
        "--initial-weights",
        metavar="FILE",
        help="warm start from a weights JSON (as `backprop weights` writes)",
    )
    p.add_argument(
        "--from-job",
        metavar="ID",
        help="start from that job's result; what is not given is the parent's "
        "(docs/reproducibility.md)",
    )
    p.add_argument(
        "--mode",
        choices=("continue", "weights"),
        help="with --from-job: continue (carry on bit-identically; --epochs is the new total; "
        "the default) or weights (warm start, fresh optimizer)",
    )
    p.add_argument("--follow", action="store_true", help="watch the job until it ends")
    p.set_defaults(func=train)
