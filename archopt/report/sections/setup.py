"""What the configuration asked for, what ran (each device's bench files), where the two
differ, and what was not measured."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archopt import __version__
from archopt.paths import GAN_DATASET, benchmarked_datasets, dataset_source
from archopt.report.analysis import Lookup, models_of
from archopt.report.runs import SETTINGS, differences
from archopt.report.study import Study
from archopt.report.table import ARCHOPT, PAPER, not_run_note, runtimes_not_run

KEY = "setup"
TITLE = "Setup"


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key=value`` of every leaf of a nested mapping (``settings.threads=1``)."""
    items = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            items += flatten(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={value}")
    return items


def training_devices(study: Study) -> str:
    table = study.table
    notes = table.loc[(table["source"] == ARCHOPT) & (table["metric"] == "train_seconds"), "note"]
    devices = sorted({n.removeprefix("device=") for n in notes.dropna() if n.startswith("device=")})
    return ", ".join(devices) or "not recorded"


def configured(study: Study) -> list[tuple[str, str]]:
    """The configuration, in words (what was asked for; the bench files say what ran)."""
    config = study.config
    train, bench = config.get("train", {}), config.get("bench", {})
    grid = train.get("grid", {})
    return [
        ("archopt version", __version__),
        ("preset", str(config.get("preset", "paper"))),
        ("datasets studied", ", ".join(config.get("studies", [])) or "none"),
        ("data sources", "; ".join(f"{name}: {dataset_source(config, name)['url']}"
                                   for name in benchmarked_datasets(config))),
        ("networks", "every network of the dissertation" if config.get("networks") is None
         else ", ".join(config["networks"])),
        ("training grid", f"lr {grid.get('lr')} x batch size {grid.get('batch_size')}, "
                          f"seeds {train.get('seeds')}"),
        ("training length", f"at most {train.get('max_epochs')} epochs"),
        ("training images", "all left after the validation split" if train.get("train_subset")
         is None else f"first {train['train_subset']} left after the validation split"),
        ("validation split", f"last {train.get('val_size')} images of the official training set"),
        ("training device", training_devices(study)),
        ("benchmark devices", ", ".join(bench.get("devices", [])) or "none"),
        ("benchmark runtimes", ", ".join(bench.get("runtimes", []))),
        ("benchmark images", "whole test set" if bench.get("images") is None
         else f"first {bench['images']} test images"),
        ("benchmark CPU threads", str(bench.get("threads", "default"))),
        ("accuracy tolerance", f"{study.tolerance:g} percentage points"),
    ]


def what_ran(study: Study) -> list[dict[str, Any]]:
    """Per device: its settings as its bench files record them, its runtimes, the
    libraries and machine of its ``env``."""
    return [{"device": run.device, "imported": run.imported, "files": run.files,
             "settings": {setting: run.text(setting) for setting in SETTINGS},
             "runtimes": run.runtimes, "versions": run.versions(),
             "environment": ", ".join(flatten(run.env))}
            for run in study.runs.values()]


def not_measured(study: Study) -> list[str]:
    """Plain-language list of everything asked for (or in the paper) that has no number."""
    table, config = study.table, study.config
    items = []
    lookup = Lookup(table)
    ours = set(table.loc[table["source"] == ARCHOPT, "dataset"])
    for dataset in sorted(set(table.loc[table["source"] == PAPER, "dataset"]) - ours - {GAN_DATASET}):
        items.append(f"{dataset}: not part of this study (the paper's numbers are in results.csv)")
    for dataset in sorted(ours - {GAN_DATASET}):
        models = models_of(table, ARCHOPT, dataset)["model"]
        untrained = [m for m in models if lookup.accuracy(ARCHOPT, dataset, m) is None]
        if untrained:
            items.append(f"{dataset}: no test accuracy for {', '.join(untrained)}")
        latency = table[(table["source"] == ARCHOPT) & (table["dataset"] == dataset)
                        & (table["metric"] == "latency_ms") & table["value"].isna()]
        for (device, runtime), rows in latency.groupby(["device", "runtime"]):
            notes = "; ".join(sorted(set(rows["note"].dropna()) - {""}))
            items.append(f"{dataset}, {device} / {runtime}: latency not measured for "
                         f"{len(rows)} network(s)" + (f" ({notes})" if notes else ""))
        for device, (ran, missing) in runtimes_not_run(table, dataset).items():
            items.append(f"{dataset}: {not_run_note(device, ran, missing)}")
    if not config.get("bench", {}).get("devices", ["cpu"]):
        items.append("latency: no benchmark device configured")
    measured = set(table.loc[(table["source"] == ARCHOPT) & table["value"].notna(), "metric"])
    if "pixel_acc" not in measured:
        items.append(f"{GAN_DATASET} / Pix2Pix (Table 13, finding 5): not run")
    if "perceptual_error" not in measured:
        items.append("perceptual real-vs-fake study: not run")
    return items


def data(study: Study) -> dict[str, Any]:
    return {"configured": configured(study), "ran": what_ran(study), "settings": SETTINGS,
            "differences": [d.text() for d in differences(study.runs,
                                                          study.config.get("bench", {}))],
            "not_measured": not_measured(study)}
