"""The ``backprop`` console script.

Subcommands register themselves through :data:`COMMANDS`: each entry names a
``module:function`` that receives the argparse subparsers object, adds its parser and
sets ``func`` (called with the parsed args, returns the exit code). Add a command by
adding one line here and a module in ``app/cli/``.
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    "app.cli.sweeps:register",
    "app.cli.provenance:register",
]


ENVIRONMENT = """\
environment:
  BACKPROP_URL      where the client commands find the API (default http://127.0.0.1:8000)
  BACKPROP_API_KEY  the API key they send, when the service has keys
                    (Authorization: Bearer <key>)
  BACKPROP_*        `serve`, `migrate` and the service read the settings listed in
                    the README's Configuration (BACKPROP_DATABASE_URL, ...)
"""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="backprop",
        description="Backprop: a neural-network training-job service.",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in COMMANDS:
        module_name, _, function = entry.partition(":")
        getattr(importlib.import_module(module_name), function)(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``backprop`` console script.

    Output piped into a reader that stops early (``backprop jobs show ID | head -2``)
    ends the command quietly, as a Unix tool does, instead of with a traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null so that flush
        # does not fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
