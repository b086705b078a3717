"""``archopt device import RESULTS.json --name NAME``: a target device's run_bench.py
results into this study's bench files (docs/devices.md)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("device", help="benchmark results of a target device")
    actions = parser.add_subparsers(dest="action", required=True)
    importer = actions.add_parser(
        "import", help="check a run_bench.py results file against this study and import it")
    importer.add_argument("results", help="the JSON run_bench.py wrote on the device")
    importer.add_argument("--name", required=True, help="the device's name, e.g. rpi4")
    importer.add_argument("--root", default=".",
                          help="the study's workflow folder, holding results/ (default: .)")
    importer.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    # Imported here: `archopt --help` stays light.
    from archopt.device.imports import import_results

    written = import_results(args.results, args.name, args.root)
    for path in written:
        print(path)
    print(f"imported {len(written)} network(s) as device {args.name!r}; add it to "
          "bench.external_devices to keep it in the workflow's DAG and report")
    return 0
