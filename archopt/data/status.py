"""What ``archopt datasets`` reports: per dataset ``ok`` / ``missing`` / ``corrupt`` and counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archopt.data.download import top_folder
from archopt.data.manifest import read_manifest
from archopt.data.structure import StructureError, check_structure
from archopt.datasets import dataset_names, get_dataset


def _split_names(dataset: str) -> tuple[str, ...]:
    return get_dataset(dataset).splits


def dataset_status(dataset: str, root: str | Path = "resources") -> dict[str, Any]:
    """``status`` is ``ok`` only when the manifest exists and the files on disk pass the same
    structure checks as the download, with the counts the manifest recorded."""
    dataset_dir = Path(root) / dataset
    folder = dataset_dir / top_folder(dataset)
    report: dict[str, Any] = {"status": "missing", "path": str(folder)}
    report.update({split: 0 for split in _split_names(dataset)})
    report["verified"] = False
    try:
        manifest = read_manifest(dataset_dir)
    except ValueError as error:
        return {**report, "status": "corrupt", "problem": str(error)}
    if manifest is None:
        if folder.exists():
            problem = (
                f"no {dataset_dir}/manifest.json: the download did not finish; "
                f"rerun download_{dataset}"
            )
            return {**report, "status": "corrupt", "problem": problem}
        return report
    report.update(verified=bool(manifest.get("verified")), url=manifest.get("url"))
    if manifest.get("warning"):
        report["warning"] = manifest["warning"]
    try:
        found = check_structure(dataset, dataset_dir)
    except StructureError as error:
        return {**report, "status": "corrupt", "problem": str(error)}
    report.update(found["counts"])
    if found["counts"] != manifest.get("counts"):
        problem = (
            f"counts on disk {found['counts']} differ from the manifest's {manifest.get('counts')}"
        )
        return {**report, "status": "corrupt", "problem": problem}
    if "image_size" in found:
        report["image_size"] = found["image_size"]
    return {**report, "status": "ok"}


def datasets_status(root: str | Path = "resources") -> dict[str, dict[str, Any]]:
    return {name: dataset_status(name, root) for name in dataset_names()}
