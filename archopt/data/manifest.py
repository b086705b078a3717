"""``resources/{name}/manifest.json``, what a finished download found, and
``resources/{name}/download.json``, the marker its Snakemake job writes after it.

The marker, not the manifest, is the download rule's output (``dataset_marker(name)``):
Snakemake deletes the outputs of a job before it runs and after it fails, so a re-download
that fails (a changed MD5, a server down) costs the marker only, and the dataset in place
keeps its manifest, its files and its ``ok`` in ``archopt datasets``. Rules that need the
data depend on the marker; it sits in the dataset's folder, so its grandparent is the
``resources`` root, as the manifest's is.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from archopt import __version__
from archopt.io import write_json_atomic

MANIFEST_NAME = "manifest.json"
DOWNLOAD_MARKER = "download.json"


def manifest_path(dataset_dir: str | Path) -> Path:
    return Path(dataset_dir) / MANIFEST_NAME


def build_manifest(
    dataset: str,
    *,
    url: str,
    md5_expected: str | None,
    md5_actual: str | None,
    counts: dict[str, int],
    **details: Any,
) -> dict[str, Any]:
    """The manifest's fields; ``verified`` is true only when an expected MD5 was matched."""
    verified = md5_expected is not None and md5_expected.lower() == (md5_actual or "").lower()
    return {
        "dataset": dataset,
        "url": url,
        "md5_expected": md5_expected,
        "md5_actual": md5_actual,
        "verified": verified,
        "counts": counts,
        **details,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "archopt_version": __version__,
    }


def write_manifest(dataset_dir: str | Path, manifest: dict[str, Any]) -> Path:
    path = manifest_path(dataset_dir)
    write_json_atomic(path, manifest)
    return path


def marker_path(dataset_dir: str | Path) -> Path:
    return Path(dataset_dir) / DOWNLOAD_MARKER


def write_marker(dataset_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """The download job's output, written (temporary name, then rename) after the manifest:
    which source it stands for, and when the job finished."""
    path = marker_path(dataset_dir)
    write_json_atomic(
        path,
        {
            "dataset": manifest["dataset"],
            "manifest": MANIFEST_NAME,
            "url": manifest["url"],
            "md5_expected": manifest["md5_expected"],
            "verified": manifest["verified"],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    return path


def read_manifest(dataset_dir: str | Path) -> dict[str, Any] | None:
    """The manifest, ``None`` when there is none; a ``ValueError`` naming the path when it
    cannot be read (a folder, no permission) or is not a JSON object."""
    path = manifest_path(dataset_dir)
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a manifest file") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return manifest
