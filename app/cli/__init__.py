"""The ``backprop`` console script.

Subcommands register themselves through :data:`COMMANDS`: each entry names a
``module:function`` that receives the argparse subparsers object, adds its parser and
sets ``func`` (called with the parsed args, returns the exit code). Add a command by
adding one line here and a module in ``app/cli/``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: list[str] = [
    "app.cli.serve:register_serve",
    "app.cli.serve:register_migrate",
    "app.cli.datasets:register",
    "app.cli.train:register",
    "app.cli.jobs:register",
    "app.cli.jobs:register_weights",
    "app.cli.jobs:register_predict",
    "app.cli.provenance:register",
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="backprop", description="Backprop: a neural-network training-job service."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in COMMANDS:
        module_name, _, function = entry.partition(":")
        getattr(importlib.import_module(module_name), function)(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``backprop`` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
