"""The target-device bundle: one zip with every deployable network, the benchmark images
and the standalone runner (``run_bench.py``), for a device without archopt or PyTorch.

Layout: ``run_bench.py``, ``manifest.json`` (networks with the SHA-256 of their files,
input shapes, the bench settings the runner defaults to), ``data.npz`` (per dataset
``images_{dataset}``, normalized float32 (N, C, H, W), and ``labels_{dataset}`` for
classifiers), ``models/{dataset}/{network}/model.onnx``.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from archopt.bench.settings import PROTOCOL_KEYS
from archopt.io import atomic_path
from archopt.posttrain import SEPARATOR

BUNDLE_FORMAT = "archopt-device-bundle"
FORMAT_VERSION = 1
RUNNER = Path(__file__).with_name("run_bench.py")
NORMALIZATION = ("images are already normalized exactly as the bench stage feeds them "
                 "(per-channel mean/std of the dataset; generators: [-1, 1]): feed them as is")


@dataclass(frozen=True)
class BundledNetwork:
    dataset: str
    network: str  # a model name, or ``model+spec`` for a post-training result
    path: Path

    @property
    def member(self) -> str:
        return f"models/{self.dataset}/{self.network}/model.onnx"

    @property
    def kind(self) -> str:
        return self.network.split(SEPARATOR, 1)[1] if SEPARATOR in self.network else "fp32"


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest(networks: Sequence[BundledNetwork], data: Mapping[str, np.ndarray],
             protocol: Mapping[str, Any]) -> dict[str, Any]:
    """What the runner verifies and measures, and the import checks results against.
    ``protocol``: the runner's defaults, the study's bench protocol
    (:meth:`archopt.device.settings.DeviceSettings.protocol`), so both measure alike."""
    datasets = {key.removeprefix("images_"): value for key, value in data.items()
                if key.startswith("images_")}
    return {
        "format": BUNDLE_FORMAT,
        "version": FORMAT_VERSION,
        "normalized": True,
        "normalization": NORMALIZATION,
        "bench": {key: protocol[key] for key in PROTOCOL_KEYS},
        "datasets": {dataset: {"images": int(images.shape[0]),
                               "input_shape": [1, *map(int, images.shape[1:])],
                               "labels": f"labels_{dataset}" in data}
                     for dataset, images in datasets.items()},
        "networks": [{"dataset": n.dataset, "network": n.network, "kind": n.kind,
                      "file": n.member, "sha256": sha256_of(n.path),
                      "bytes": n.path.stat().st_size,
                      "input_shape": [1, *map(int, datasets[n.dataset].shape[1:])]}
                     for n in networks],
    }


def npz_bytes(data: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **data)
    return buffer.getvalue()


def write_bundle(out: str | Path, networks: Sequence[BundledNetwork],
                 data: Mapping[str, np.ndarray], protocol: Mapping[str, Any]) -> dict[str, Any]:
    """Write the zip atomically (a temporary file renamed into place); returns the manifest.

    ONNX files are stored, not deflated: they barely compress and the device unpacks faster.
    """
    missing = sorted({n.dataset for n in networks} - {k.removeprefix("images_") for k in data})
    if missing:
        raise ValueError(f"no benchmark images for dataset(s) {', '.join(missing)}")
    record = manifest(networks, data, protocol)
    with atomic_path(out, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.write(RUNNER, "run_bench.py", compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("manifest.json", json.dumps(record, indent=2) + "\n",
                         compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("data.npz", npz_bytes(data), compress_type=zipfile.ZIP_DEFLATED)
        for network in networks:
            archive.write(network.path, network.member, compress_type=zipfile.ZIP_STORED)
    return record
