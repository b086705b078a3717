"""Small datasets in the official on-disk formats, built by the tests themselves.

CIFAR images are class-dependent (a class colour plus noise), so a tiny training run can
learn above chance; maps pairs are 2h x h JPEGs whose right half (the "map") is a
posterized copy of the left half (the "satellite").
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import pickle
import re
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from archopt.data.manifest import build_manifest, write_manifest, write_marker
from archopt.data.specs import cifar_spec, maps_spec
from archopt.data.structure import check_structure

CIFAR_ARCHIVE_NAMES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}


def md5_of(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _fake_images(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    # A fixed colour per class (same for every seed) plus per-image noise: learnable, not trivial.
    colours = np.random.default_rng(1234).integers(40, 216, size=(num_classes, 3))
    pixels = colours[labels][:, :, None] + rng.normal(0, 30, size=(len(labels), 3, 1024))
    return np.clip(pixels, 0, 255).astype(np.uint8).reshape(len(labels), 3072)


def _batch_record(dataset: str, labels: np.ndarray, rng: np.random.Generator, title: str) -> dict:
    # Keys and strings as bytes, like the official Python 2 pickles read with encoding="bytes".
    spec = cifar_spec(dataset)
    record = {
        b"batch_label": title.encode(),
        spec.label_key.encode(): [int(x) for x in labels],
        b"data": _fake_images(labels, spec.num_classes, rng),
        b"filenames": [f"fake_{i}.png".encode() for i in range(len(labels))],
    }
    if spec.coarse_label_key:
        record[spec.coarse_label_key.encode()] = [int(x) // 5 for x in labels]
    return record


def _meta_record(dataset: str) -> dict:
    spec = cifar_spec(dataset)
    record = {
        spec.class_names_key.encode(): [f"class_{i}".encode() for i in range(spec.num_classes)]
    }
    if spec.coarse_names_key:
        record[spec.coarse_names_key.encode()] = [f"super_{i}".encode() for i in range(20)]
    return record


def _write_pickle(path: Path, record: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(record, handle, protocol=2)


def _write_cifar_folder(
    container: Path, dataset: str, n_train: int, n_test: int, seed: int
) -> Path:
    spec = cifar_spec(dataset)
    rng = np.random.default_rng(seed)
    folder = container / spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    train_labels = rng.permutation(np.arange(n_train) % spec.num_classes)
    for name, part in zip(spec.train_files, np.array_split(train_labels, len(spec.train_files))):
        _write_pickle(folder / name, _batch_record(dataset, part, rng, f"training {name}"))
    test_labels = rng.permutation(np.arange(n_test) % spec.num_classes)
    for name in spec.test_files:
        _write_pickle(folder / name, _batch_record(dataset, test_labels, rng, "testing batch"))
    _write_pickle(folder / spec.meta_file, _meta_record(dataset))
    return folder


def write_cifar_tree(dest: Path, dataset: str, n_train: int, n_test: int, seed: int = 0) -> Path:
    """A finished CIFAR download under the ``resources`` root ``dest``.

    Writes ``dest/<dataset>/<official folder>/...``, then what the download job writes
    after it (see :func:`write_finished_download`), and returns ``dest/<dataset>``.
    Use ``load_cifar(dataset, root=dest)`` to read it.
    """
    dataset_dir = Path(dest) / dataset
    _write_cifar_folder(dataset_dir, dataset, n_train, n_test, seed)
    write_finished_download(dataset_dir, dataset)
    return dataset_dir


def write_finished_download(dataset_dir: Path, dataset: str) -> dict:
    """``manifest.json`` for the data in ``dataset_dir`` (unverified, generated here), then
    the download job's marker ``download.json``, Snakemake's ``dataset_marker`` input: the
    files a finished download leaves. Returns the manifest."""
    found = check_structure(dataset, dataset_dir)
    manifest = build_manifest(
        dataset,
        url="generated://tests/fake_data.py",
        md5_expected=None,
        md5_actual=None,
        **found,
    )
    write_manifest(dataset_dir, manifest)
    write_marker(dataset_dir, manifest)
    return manifest


def write_cifar_folder(
    container: Path, dataset: str, n_train: int, n_test: int, seed: int = 0
) -> Path:
    """The official CIFAR folder (``cifar-10-batches-py`` ...) under ``container``, no manifest."""
    return _write_cifar_folder(Path(container), dataset, n_train, n_test, seed)


def make_tar(
    archive: Path,
    paths: dict[str, Path],
    symlinks: dict[str, str] | None = None,
    hardlinks: dict[str, str] | None = None,
) -> tuple[Path, str]:
    """A ``.tar.gz`` of files/folders (``{member name: path on disk}``), then link members
    (``{member name: link target}``) as real tar link entries; returns it and its MD5.

    For archives the official ones are not: a top folder or data file that is a link.
    """
    Path(archive).parent.mkdir(parents=True, exist_ok=True)
    links = [(tarfile.SYMTYPE, symlinks or {}), (tarfile.LNKTYPE, hardlinks or {})]
    with tarfile.open(archive, "w:gz") as tar:
        for name, path in paths.items():
            tar.add(path, arcname=name)
        for kind, members in links:
            for name, target in members.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = kind, target
                tar.addfile(info)
    return Path(archive), md5_of(archive)


def _tar_folder(archive: Path, container: Path, top: str) -> tuple[Path, str]:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(container / top, arcname=top)
    return archive, md5_of(archive)


def make_cifar_archive(
    dest: Path, dataset: str, n_train: int, n_test: int, seed: int = 0
) -> tuple[Path, str]:
    """``dest/cifar-10-python.tar.gz`` (or ``cifar-100-python.tar.gz``) and its MD5."""
    Path(dest).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _write_cifar_folder(Path(tmp), dataset, n_train, n_test, seed)
        return _tar_folder(
            Path(dest) / CIFAR_ARCHIVE_NAMES[dataset], Path(tmp), cifar_spec(dataset).folder
        )


def _fake_pair(height: int, rng: np.random.Generator) -> np.ndarray:
    # A smooth random "satellite" texture, and its posterized copy as the "map".
    coarse = rng.integers(0, 256, size=(height // 8 + 1, height // 8 + 1, 3), dtype=np.uint8)
    satellite = np.kron(coarse, np.ones((8, 8, 1), dtype=np.uint8))[:height, :height]
    map_half = (satellite // 64) * 64 + 32
    return np.concatenate([satellite, map_half], axis=1)


def write_maps_tree(dest: Path, n_train: int, n_val: int, seed: int = 0, height: int = 32) -> Path:
    """``dest/maps/{train,val}/<n>.jpg`` pairs, ``2 height x height`` px; returns ``dest/maps``."""
    rng = np.random.default_rng(seed)
    for split, count in zip(maps_spec().splits, (n_train, n_val)):
        folder = Path(dest) / maps_spec().folder / split
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(1, count + 1):
            Image.fromarray(_fake_pair(height, rng)).save(folder / f"{number}.jpg", quality=95)
    return Path(dest) / maps_spec().folder


def make_maps_archive(
    dest: Path, n_train: int, n_val: int, seed: int = 0, height: int = 32
) -> tuple[Path, str]:
    """``dest/maps.tar.gz`` in the pix2pix layout (``maps/train``, ``maps/val``) and its MD5."""
    Path(dest).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_maps_tree(Path(tmp), n_train, n_val, seed, height)
        return _tar_folder(Path(dest) / "maps.tar.gz", Path(tmp), maps_spec().folder)


class _RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files, honours ``Range: bytes=N-`` (resumed downloads), records each GET."""

    requests: list[tuple[str, str | None]] | None = None

    def do_GET(self) -> None:
        if self.requests is not None:
            self.requests.append((self.path, self.headers.get("Range")))
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        start = int(match.group(1))
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@contextmanager
def http_server(
    directory: Path, requests: list[tuple[str, str | None]] | None = None
) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port); yields the base URL without a slash.

    ``requests``, when given, receives ``(path, Range header)`` for every GET.
    """
    handler = functools.partial(
        type("Handler", (_RangeRequestHandler,), {"requests": requests}), directory=str(directory)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
