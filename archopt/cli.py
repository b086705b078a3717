"""The ``archopt`` command line. Each subcommand lives in ``archopt.commands.<name>``."""

from __future__ import annotations

import argparse
import importlib
import sys

from archopt import __version__

# Each module defines ``register(subparsers)`` that adds its parser with ``func`` set.
COMMAND_MODULES = ("params", "models", "datasets", "study", "device")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archopt", description="CNN architecture-optimization study (DSC, Shift, Shuffle)."
    )
    parser.add_argument("--version", action="version", version=f"archopt {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"archopt.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError) as error:
        print(f"archopt {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
