"""Subcommands of the ``archopt`` command line, one module each."""

from __future__ import annotations

import argparse


def add_plugin_option(parser: argparse.ArgumentParser) -> None:
    """``--plugin PATH_OR_MODULE`` (repeatable): imported before any name is looked up."""
    parser.add_argument(
        "--plugin", action="append", default=[], metavar="PATH_OR_MODULE",
        help="a .py file or module that registers techniques/runtimes (repeatable)",
    )
