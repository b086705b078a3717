"""``archopt params --dataset D NAME...``: one ``NAME<TAB>PARAMS`` line per name."""

from __future__ import annotations

import argparse

from archopt.commands import add_plugin_option
from archopt.datasets import dataset_names
from archopt.models import count_params, get_model
from archopt.plugins import load_plugins

DATASETS = tuple(dataset_names())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("params", help="print parameter counts of named networks")
    parser.add_argument("--dataset", default="cifar10", choices=DATASETS)
    parser.add_argument("names", nargs="+", metavar="NAME", help="canonical name or paper alias")
    add_plugin_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    for name in args.names:
        print(f"{name}\t{count_params(get_model(name, args.dataset))}", flush=True)
    return 0
