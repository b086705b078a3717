"""The study bundle's format: ``manifest.json`` and the PNG maps it names, loaded for serving.

A bundle (``results/study/bundle/``, built by ``archopt.perceptual.build``) holds, for
every generator variant, ``n`` generated maps, and ``n`` real maps shared by all variants
(paper: n = 25). Loading reads every image into memory once, so the server never opens a
file because of a request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from archopt.perceptual.protocol import minimum_images_per_class

MANIFEST = "manifest.json"
FORMAT = 1
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class BundleError(ValueError):
    """A bundle folder that cannot be served; the message names the file and the problem."""


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: the PNG bytes of every image, in memory, by image id."""

    folder: Path
    fingerprint: str  # SHA-256 of manifest.json: the database is tied to one bundle
    networks: dict[str, list[str]]  # model -> ids of its generated maps
    reals: list[str]
    images: dict[str, bytes]
    training_per_class: int
    warning: str | None

    @property
    def images_per_class(self) -> int:
        return len(self.reals)

    @property
    def trials(self) -> int:
        return 2 * self.images_per_class


def load_bundle(folder: str | Path) -> Bundle:
    """Read and check ``folder/manifest.json`` and every image it names."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw)
    except FileNotFoundError:
        raise BundleError(f"{path} not found: build the bundle with "
                          "`snakemake --cores 2 results/study/bundle`") from None
    except (OSError, ValueError) as error:
        raise BundleError(f"{path}: not a readable JSON manifest ({error})") from None
    try:
        return _parse_manifest(folder, manifest, hashlib.sha256(raw).hexdigest())
    except (KeyError, TypeError) as error:
        raise BundleError(f"{path}: malformed manifest (missing or wrong {error})") from None


def _parse_manifest(folder: Path, manifest: dict, fingerprint: str) -> Bundle:
    where = folder / MANIFEST
    if manifest["format"] != FORMAT:
        raise BundleError(f"{where}: format {manifest['format']!r}, expected {FORMAT}")
    training = manifest["training_per_class"]
    # bool is an int to Python; int() would have turned "3" and 2.5 into numbers.
    if not isinstance(training, int) or isinstance(training, bool) or training < 0:
        raise BundleError(f"{where}: training_per_class {training!r:.40} is not a whole "
                          "number of at least 0 (practice trials per class)")
    reals = manifest["real"]
    networks = {entry["model"]: entry["fake"] for entry in manifest["networks"]}
    if not networks:
        raise BundleError(f"{where}: no networks (config gan.variants was empty?)")
    needed = minimum_images_per_class(training)
    if len(reals) < needed:
        raise BundleError(
            f"{where}: {len(reals)} images per class, the protocol needs at least {needed} "
            f"({training} training + 1 scored): build it from a validation split with at least "
            f"{2 * needed} pairs")
    images: dict[str, bytes] = {}
    for entry in [*reals, *(e for fakes in networks.values() for e in fakes)]:
        if entry["id"] in images:
            raise BundleError(f"{where}: image id {entry['id']!r} appears twice")
        images[entry["id"]] = _read_png(folder, entry["file"])
    for model, fakes in networks.items():
        if len(fakes) != len(reals):
            raise BundleError(f"{where}: network {model!r} has {len(fakes)} generated maps, "
                              f"expected {len(reals)} (as many as real maps)")
    return Bundle(
        folder=folder,
        fingerprint=fingerprint,
        networks={model: [e["id"] for e in fakes] for model, fakes in networks.items()},
        reals=[e["id"] for e in reals],
        images=images,
        training_per_class=training,
        warning=manifest.get("warning"),
    )


def _read_png(folder: Path, name: str) -> bytes:
    # Names come from the manifest, never from a request; still refuse any that escape.
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise BundleError(f"{folder / MANIFEST}: image {name!r} is outside the bundle")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BundleError(f"{path}: cannot read the image named in the manifest ({error})") from None
    if not data.startswith(PNG_SIGNATURE):
        raise BundleError(f"{path}: not a PNG file")
    return data
