"""``archopt models``: the registered networks with params, MACs and technique."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from archopt.catalog import CATALOG_COLUMNS, catalog_rows, rows_to_csv
from archopt.commands import add_plugin_option
from archopt.datasets import dataset_names
from archopt.models import models_for_dataset
from archopt.plugins import load_plugins

DATASETS = tuple(dataset_names())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list networks with params, MACs, technique")
    parser.add_argument("--dataset", default="cifar10", choices=DATASETS)
    parser.add_argument("--format", default="table", choices=("table", "csv", "json"))
    add_plugin_option(parser)
    parser.set_defaults(func=run)


def format_table(rows: list) -> str:
    records = [asdict(r) for r in rows]
    for record in records:
        record["width_factor"] = "" if record["width_factor"] is None else record["width_factor"]
    widths = {c: max(len(c), *(len(f"{r[c]}") for r in records)) for c in CATALOG_COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in CATALOG_COLUMNS)]
    for record in records:
        lines.append("  ".join(f"{record[c]}".ljust(widths[c]) for c in CATALOG_COLUMNS))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    load_plugins(args.plugin)
    rows = catalog_rows(models_for_dataset(args.dataset), args.dataset)
    if args.format == "csv":
        print(rows_to_csv(rows), end="")
    elif args.format == "json":
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0
