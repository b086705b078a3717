"""How every number was measured (the settings as the bench files record them), the
deviations from the dissertation and the dissertation's own inconsistencies."""

from __future__ import annotations

import re
from typing import Any

from archopt.report.analysis import classification_datasets, technique_label
from archopt.report.findings import PAPER_IMPLEMENTATIONS, PAPER_METRICS, PAPER_VALUES_NOT_USED
from archopt.report.study import Study
from archopt.report.table import METRICS, PRIMARY_ACCURACY, implementations_timed
from archopt.report.tables import ACCURACY_LABELS
from archopt.techniques import list_techniques

KEY = "methodology"
TITLE = "Methodology"


def local_texts(study: Study, setting: str) -> dict[str, str]:
    """device -> ``setting`` as the bench files of each local device record it."""
    return {run.device: run.text(setting) for run in study.runs.values()
            if not run.imported and run.values(setting)}


def recorded(study: Study, setting: str) -> str:
    """A setting as the local devices' bench files record it (``cpu: 2; cuda: 1`` where
    devices differ); the config's value, so marked, where no bench file records it."""
    texts = local_texts(study, setting)
    if not texts:
        return f"{study.config.get('bench', {}).get(setting)} (configured; no bench file records it)"
    if len(set(texts.values())) == 1:
        return next(iter(texts.values()))
    return "; ".join(f"{device}: {text}" for device, text in texts.items())


def images_text(study: Study) -> str:
    if local_texts(study, "images"):
        return f"{recorded(study, 'images')} test images"
    images = study.config.get("bench", {}).get("images")
    return "the whole test set" if images is None else f"the first {images} test images"


def accuracy_item(study: Study) -> str:
    metrics = [f"{dataset} on {ACCURACY_LABELS[PRIMARY_ACCURACY[dataset]].removesuffix(' %')}"
               + (f", {PAPER_METRICS[dataset]}" if dataset in PAPER_METRICS else "")
               for dataset in classification_datasets(study.table)]
    return ("**Accuracy.** Test top-1 and top-5 with 95% Wilson intervals. Each dataset is "
            "compared on its primary metric" + (f": {'; '.join(metrics)}." if metrics else "."))


def implementation_items(study: Study) -> list[str]:
    """One item per technique whose layers come in interchangeable implementations."""
    timed = implementations_timed(study.table)
    items = []
    for technique in (t for t in list_techniques() if t.implementations()):
        label = technique_label(technique.name)
        chosen = ", ".join(timed.get(technique.name, [])) or "not recorded"
        items.append(
            f"**{label} implementations.** {label}'s layers come in numerically identical "
            f"implementations ({', '.join(f'`{i}`' for i in technique.implementations())}); "
            "the bench stage times each in each runtime and keeps the fastest (timed: "
            f"{chosen}). " + PAPER_IMPLEMENTATIONS.get(technique.name, ""))
    return items


def methodology(study: Study) -> list[str]:
    train = study.config.get("train", {})
    return [
        f"**Validation split.** The last {train.get('val_size')} images of the official training "
        "set are held out; each network keeps the grid run and the epoch with the best "
        "validation accuracy, and the test set is only used for the reported accuracy.",
        accuracy_item(study),
        f"**Latency.** One image at a time (batch 1) over {images_text(study)}, "
        f"{recorded(study, 'threads')} CPU thread(s), after {recorded(study, 'warmup')} warm-up "
        "queries, as the bench files record them (Setup: what ran); mean ± standard "
        "deviation, and the 95% interval of the mean for comparisons. Runtimes: "
        f"{', '.join(study.config.get('bench', {}).get('runtimes', []))}, each on the "
        "benchmarked device.",
        *implementation_items(study),
        "**Efficiency and size.** E_P x 1000 = accuracy (%) / parameters x 1000 (the paper's "
        "E_P column); storage = bytes of the selected checkpoint; MACs count convolutions and "
        "linear layers for one image (layers that only move channels count zero).",
        f"**Verdicts.** A latency difference counts where the 95% intervals are disjoint; "
        f"accuracy claims use a tolerance of {study.tolerance:g} points (config key "
        "`report.accuracy_tolerance`). The paper's latency intervals are derived from its "
        "standard deviations over the 10,000 test images.",
    ]


def deviations(study: Study) -> list[str]:
    config = study.config
    train, bench = config.get("train", {}), config.get("bench", {})
    items = [
        "Model selection on a validation split instead of the test set.",
        "Latency on pure CPU (no GPU offload) and with current PyTorch / ONNX Runtime on "
        "different hardware: absolute times are not comparable with the paper's, ratios are.",
        PAPER_VALUES_NOT_USED,
    ]
    reduced = []
    if train.get("train_subset") is not None:
        reduced.append(f"training on the first {train['train_subset']} images")
    if train.get("max_epochs", 200) < 200:
        reduced.append(f"at most {train['max_epochs']} epochs instead of 200")
    grid = train.get("grid", {})
    if len(grid.get("lr", [])) * len(grid.get("batch_size", [])) < 6:
        reduced.append(f"a grid of lr {grid.get('lr')} x batch {grid.get('batch_size')} instead "
                       "of 3 x 2")
    if bench.get("images") is not None:
        reduced.append(f"latency over {bench['images']} test images")
    if reduced:
        items.append(f"Reduced study (preset {config.get('preset')}): " + ", ".join(reduced)
                     + ". Accuracies are far below the paper's and only indicate the method.")
    for dataset, search in study.searches.items():
        if "paper_params" in search.columns:
            # Compare architectures, not names: several rates give the same widths, so the
            # search may print another name for the paper's own network.
            named = search[search["paper_params"].notna()]
            differ = named[named["paper_params"].astype("int64") != named["params"].astype("int64")]
            if len(differ):
                pairs = ", ".join(f"{r.model} (paper {r.paper_model})" for r in differ.itertuples())
                items.append(f"{dataset}: the budget search picks other widths than the paper "
                             f"for {pairs}.")
    return items


def markdown_section(markdown: str, heading_word: str) -> str:
    """The body of the first ``## `` section whose heading contains ``heading_word``."""
    match = re.search(rf"^## [^\n]*{heading_word}[^\n]*\n(.*?)(?=^## |\Z)", markdown,
                      flags=re.M | re.S | re.I)
    return match.group(1) if match else ""


def data(study: Study) -> dict[str, Any]:
    return {"items": methodology(study), "deviations": deviations(study),
            "inconsistencies": markdown_section(study.paper_notes, "Inconsistencies"),
            "metrics": METRICS}
