"""Download, verify and extract one dataset archive into ``resources/<name>/``.

Order of work, so that a kill at any point leaves nothing that looks finished:
lock -> remove the old manifest -> stream the archive to ``<file>.part`` (MD5 while
streaming; a later run resumes it with an HTTP Range request) -> verify -> rename to
``<file>`` -> extract into a temporary folder -> structure checks -> rename into place ->
write ``manifest.json`` last.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from tqdm import tqdm

from archopt.data.archive import safe_extract
from archopt.data.manifest import build_manifest, manifest_path, write_manifest
from archopt.data.specs import CIFAR_SPECS, MAPS_SPEC, check_dataset_name
from archopt.data.structure import check_structure
from archopt.progress import LogStream

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60
EXTRACT_PREFIX = ".extract-"
LOGGER = logging.getLogger("archopt.data.download")


class DownloadError(RuntimeError):
    """The archive could not be fetched or did not match its checksum; the message says why."""


def archive_name(url: str) -> str:
    """The file name a URL's path ends with (``cifar-10-python.tar.gz``)."""
    name = PurePosixPath(unquote(urlparse(url).path)).name
    if not name:
        raise DownloadError(f"URL {url} does not end with a file name")
    return name


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def top_folder(dataset: str) -> str:
    """The folder the official archive of ``dataset`` unpacks to."""
    return MAPS_SPEC.folder if dataset == MAPS_SPEC.name else CIFAR_SPECS[dataset].folder


@contextmanager
def dataset_lock(dataset_dir: Path, logger: logging.Logger = LOGGER) -> Iterator[None]:
    """Exclusive ``fcntl`` lock on ``<dataset_dir>/.lock``: one download per dataset at a time,
    also across independent processes and workflows sharing ``resources/``."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    lock_path = dataset_dir / ".lock"
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info(
                "waiting for another process working on %s (lock %s)", dataset_dir, lock_path
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _resume_offset(url: str, part: Path) -> int:
    # Only HTTP(S) servers can continue a transfer; file:// copies start over.
    if urlparse(url).scheme in ("http", "https") and part.exists():
        return part.stat().st_size
    return 0


def _open(url: str, offset: int) -> Any:
    headers = {"User-Agent": "archopt"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)


def _stream(response: Any, part: Path, offset: int, logger: logging.Logger) -> str:
    """Append ``response`` to ``part`` (from ``offset``) and return the whole file's MD5."""
    digest = hashlib.md5()
    if offset:
        with open(part, "rb") as done:
            while chunk := done.read(CHUNK_BYTES):
                digest.update(chunk)
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length is not None else None
    with (
        open(part, "ab" if offset else "wb") as out,
        tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            desc=part.name,
            file=LogStream(logger),
            mininterval=5,
            ascii=True,
        ) as bar,
    ):
        while chunk := response.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    if total is not None and part.stat().st_size != total:
        raise DownloadError(
            f"{part}: connection closed after {part.stat().st_size} of {total} bytes; "
            "rerun to resume the download"
        )
    return digest.hexdigest()


def _no_network_message(
    dataset: str, url: str, archive: Path, md5: str | None, reason: object
) -> str:
    by_hand = (
        f"  - copy the file to {archive} (it is checked against MD5 {md5} before use), or\n"
        if md5
        else ""
    )
    return (
        f"could not download {url} ({reason}).\n"
        "Without network access on this machine, fetch the file elsewhere, then either\n"
        f"{by_hand}"
        f"  - set config key datasets.{dataset}.url to a mirror or to the copied file "
        f"(a file:// URL works, e.g. file:///data/{archive.name}), "
        f"and datasets.{dataset}.md5 to its checksum, in a --configfile."
    )


def fetch(
    url: str, archive: Path, dataset: str, md5: str | None, logger: logging.Logger = LOGGER
) -> str:
    """Download ``url`` to ``archive`` via ``<archive>.part``; returns the actual MD5.

    With an expected ``md5`` the file is renamed into place only when it matches; on a
    mismatch the partial file is removed and the error names the URL and both checksums.
    """
    part = archive.with_name(archive.name + ".part")
    offset = _resume_offset(url, part)
    try:
        try:
            response = _open(url, offset)
        except urllib.error.HTTPError as error:
            if error.code != 416 or not offset:  # 416: the partial file is not a prefix
                raise
            part.unlink()
            offset = 0
            response = _open(url, offset)
        with response:
            if offset and response.status != 206:  # the server ignored the Range request
                offset = 0
            if offset:
                logger.info("resuming %s at byte %d", url, offset)
            else:
                logger.info("downloading %s", url)
            actual = _stream(response, part, offset, logger)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(_no_network_message(dataset, url, archive, md5, reason)) from None
    if md5 is not None and actual.lower() != md5.lower():
        part.unlink()
        raise DownloadError(
            f"checksum mismatch for {url}: expected MD5 {md5}, got {actual}; "
            "the downloaded file was removed. If this mirror is trusted, set "
            f"datasets.{dataset}.md5 to its checksum."
        )
    os.replace(part, archive)
    return actual


def _reusable_archive(archive: Path, md5: str | None, logger: logging.Logger) -> str | None:
    """The MD5 of an archive already in place (copied by hand or kept from an earlier run)
    when it matches ``md5``. Without an expected MD5 nothing is reused: the URL may have
    changed and only a fresh download is known to come from it."""
    if md5 is None or not archive.is_file():
        return None
    actual = md5_file(archive)
    if actual.lower() == md5.lower():
        logger.info("using %s already in place (MD5 %s matches)", archive, actual)
        return actual
    logger.info("%s has MD5 %s, not %s: downloading again", archive, actual, md5)
    archive.unlink()
    return None


def _clear_leftovers(dataset_dir: Path) -> None:
    # Temporary extractions of killed runs; safe to remove while holding the lock.
    for leftover in dataset_dir.glob(EXTRACT_PREFIX + "*"):
        shutil.rmtree(leftover, ignore_errors=True)


def extract_into_place(
    dataset: str, archive: Path, dataset_dir: Path, logger: logging.Logger = LOGGER
) -> dict[str, Any]:
    """Extract into a temporary folder, check it, then swap it for the dataset folder."""
    staging = Path(tempfile.mkdtemp(prefix=EXTRACT_PREFIX, dir=dataset_dir))
    try:
        logger.info("extracting %s", archive)
        safe_extract(archive, staging)
        found = check_structure(dataset, staging)
        target = dataset_dir / top_folder(dataset)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / top_folder(dataset), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return found


def download_dataset(
    dataset: str,
    dataset_dir: str | Path,
    url: str,
    md5: str | None,
    logger: logging.Logger = LOGGER,
) -> dict[str, Any]:
    """Fetch, verify and extract ``dataset`` into ``dataset_dir``; returns the manifest."""
    check_dataset_name(dataset)
    dataset_dir = Path(dataset_dir)
    archive = dataset_dir / archive_name(url)
    with dataset_lock(dataset_dir, logger):
        manifest_path(dataset_dir).unlink(missing_ok=True)
        _clear_leftovers(dataset_dir)
        started = time.monotonic()
        actual = _reusable_archive(archive, md5, logger) or fetch(
            url, archive, dataset, md5, logger
        )
        if md5 is not None:
            logger.info("MD5 %s verified", actual)
        try:
            found = extract_into_place(dataset, archive, dataset_dir, logger)
        except ValueError:
            if md5 is None:  # not verified and not acceptable: do not keep it
                archive.unlink(missing_ok=True)
            raise
        manifest = build_manifest(
            dataset,
            url=url,
            md5_expected=md5,
            md5_actual=actual,
            archive=archive.name,
            archive_bytes=archive.stat().st_size,
            seconds=round(time.monotonic() - started, 3),
            **found,
        )
        if not manifest["verified"]:
            manifest["warning"] = (
                f"not verified: no MD5 configured (datasets.{dataset}.md5: null); accepted after "
                "structure checks only"
            )
            logger.warning(
                "%s: %s. Its MD5 is %s; set datasets.%s.md5 to it to pin this archive.",
                dataset,
                manifest["warning"],
                actual,
                dataset,
            )
        write_manifest(dataset_dir, manifest)
        logger.info("%s ready: %s", dataset, found["counts"])
    return manifest
