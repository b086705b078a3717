"""``archopt datasets [--root resources] [--json]``: status and image counts of each dataset."""

from __future__ import annotations

import argparse
import json
from typing import Any

from archopt.data.status import datasets_status


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="show which datasets are downloaded and intact")
    parser.add_argument(
        "--root", default="resources", help="the resources folder (default: resources)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def _counts(info: dict[str, Any]) -> str:
    splits = ("train", "val") if "val" in info else ("train", "test")
    return ", ".join(f"{info[s]} {s}" for s in splits)


def _verified(info: dict[str, Any]) -> str:
    if info["status"] == "missing":
        return ""
    return "MD5 verified" if info["verified"] else "NOT verified (no MD5)"


def format_table(statuses: dict[str, dict[str, Any]]) -> str:
    rows = [("dataset", "status", "images", "checksum", "path")]
    rows += [(n, i["status"], _counts(i), _verified(i), i["path"]) for n, i in statuses.items()]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines += [f"{n}: {i['problem']}" for n, i in statuses.items() if "problem" in i]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    statuses = datasets_status(args.root)
    print(json.dumps(statuses, indent=2) if args.json else format_table(statuses))
    return 0
