"""Download, verify and extract one dataset archive into ``resources/<name>/``.

Order of work, so that a kill or a failure at any point leaves either the dataset that was
there before (with its manifest) or nothing that looks finished:
lock -> stream the archive to ``<file>.part`` (MD5 while streaming; a later run resumes it
with an HTTP Range request) -> refuse text (a web page) -> verify the MD5 -> rename to
``<file>`` -> extract into a temporary folder -> structure checks -> remove the old manifest
-> swap the new folder for the old one -> write ``manifest.json`` last. Without an expected
MD5 the download stays ``<file>.part`` until the structure checks accept it, so that an
archive of an earlier run is kept until then too. A dataset in place that already stands
for the source (see :func:`stands_for_source`) is left as it is: nothing is fetched or
extracted. The Snakemake job then writes its marker, ``download.json``
(:mod:`archopt.data.manifest`).
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
from urllib.request import url2pathname

from tqdm import tqdm

from archopt.data.archive import (
    DEFAULT_LIMITS,
    ArchiveError,
    describe_text,
    disk_full,
    safe_extract,
    text_start,
)
from archopt.data.manifest import (
    DOWNLOAD_MARKER,
    MANIFEST_NAME,
    build_manifest,
    manifest_path,
    read_manifest,
    write_manifest,
)
from archopt.data.specs import check_dataset_name
from archopt.data.structure import StructureError, check_structure
from archopt.datasets import get_dataset
from archopt.progress import LogStream

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60
EXTRACT_PREFIX = ".extract-"
LOCK_NAME = ".lock"
LOGGER = logging.getLogger("archopt.data.download")


class DownloadError(RuntimeError):
    """The archive could not be fetched or did not match its checksum; the message says why."""


def archive_name(url: str, dataset: str) -> str:
    """The file name a URL's path ends with (``cifar-10-python.tar.gz``).

    Refused: a URL naming a folder (a server answers it with an HTML listing) and a name
    that ``resources/<dataset>/`` uses for something else (the data folder, the manifest,
    the download marker).
    """
    path = unquote(urlparse(url).path)
    name = PurePosixPath(path).name
    if name in (".", "..") or not name.isprintable():
        # "%2e%2e" decodes to "..": resources/<dataset>/.. is the resources folder itself.
        raise DownloadError(
            f"URL {url} ends with {name!r}, which is not a file name; set "
            f"datasets.{dataset}.url to the URL of the archive file itself."
        )
    if not name or path.endswith("/"):
        raise DownloadError(
            f"URL {url} does not end with a file name: it names a folder, and a server answers "
            "that with an HTML listing, not an archive. Set "
            f"datasets.{dataset}.url to the URL of the archive file itself."
        )
    reserved = (top_folder(dataset), MANIFEST_NAME, DOWNLOAD_MARKER, LOCK_NAME)
    if name in reserved or name.startswith(EXTRACT_PREFIX):
        raise DownloadError(
            f"URL {url} ends with {name!r}, a name resources/{dataset}/ uses for its own files; "
            f"set datasets.{dataset}.url to a URL ending with the archive's file name "
            "(e.g. a file:// URL of a copy)."
        )
    return name


def partial_path(archive: Path) -> Path:
    """Where ``archive`` is streamed to (and resumed from) before it is accepted."""
    return archive.with_name(archive.name + ".part")


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def remove_path(path: Path) -> None:
    """Remove a file, a folder tree or a link, never what a link points to; absent is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)  # does not follow links inside the tree either
    else:
        path.unlink(missing_ok=True)


def top_folder(dataset: str) -> str:
    """The folder the official archive of ``dataset`` unpacks to."""
    return get_dataset(dataset).folder


@contextmanager
def dataset_lock(dataset_dir: Path, logger: logging.Logger = LOGGER) -> Iterator[None]:
    """Exclusive ``fcntl`` lock on ``<dataset_dir>/.lock``: one download per dataset at a time,
    also across independent processes and workflows sharing ``resources/``."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    lock_path = dataset_dir / LOCK_NAME
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
    try:
        _write_stream(response, part, offset, total, digest, logger)
    except OSError as error:
        # Opening or writing the file, not the network (whose errors fetch reports).
        if not (disk_full(error) or error.filename == str(part)):
            raise
        raise DownloadError(_write_failure(part, error)) from None
    if total is not None and part.stat().st_size != total:
        raise DownloadError(
            f"{part}: connection closed after {part.stat().st_size} of {total} bytes; "
            "rerun to resume the download"
        )
    return digest.hexdigest()


def _write_failure(part: Path, error: OSError) -> str:
    """What went wrong writing the download itself (not the network); a full disk also
    loses the partial file, which only took the space the disk lacks."""
    if disk_full(error):
        part.unlink(missing_ok=True)
        return (f"disk full: could not write {part} ({error.strerror}); the partial download "
                "was removed. Free space on that disk and rerun.")
    return f"could not write {part}: {error.strerror or error}"


def _write_stream(
    response: Any, part: Path, offset: int, total: int | None, digest: Any,
    logger: logging.Logger,
) -> None:
    """Append the response's bytes to ``part``, adding them to ``digest``, with progress."""
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


def _remedies(dataset: str, archive: Path, md5: str | None) -> str:
    """What the user can do instead, as a list (the copy is offered only with an MD5)."""
    set_url = (
        f"set config key datasets.{dataset}.url to a mirror or to a copy of the file "
        f"(a file:// URL works, e.g. file:///data/{archive.name}), "
        f"and datasets.{dataset}.md5 to its checksum, in a --configfile."
    )
    if not md5:
        return f"\n  - {set_url}"
    copy = f"copy the file to {archive} (it is checked against MD5 {md5} before use), or"
    return f"\n  - {copy}\n  - {set_url}"


def _no_network_message(
    dataset: str, url: str, archive: Path, md5: str | None, reason: object
) -> str:
    return (
        f"could not download {url} ({reason}).\n"
        "Without network access on this machine, fetch the file elsewhere, then:"
        + _remedies(dataset, archive, md5)
    )


def _http_error_message(
    dataset: str, url: str, archive: Path, md5: str | None, error: urllib.error.HTTPError
) -> str:
    # The server answered, so the machine is online: the URL (or the server) is the problem.
    return (
        f"could not download {url}: the server answered HTTP {error.code} {error.reason}.\n"
        "The URL is wrong, the file has moved or the server refuses it. Instead:"
        + _remedies(dataset, archive, md5)
    )


def _file_url_message(
    dataset: str, url: str, archive: Path, md5: str | None, error: urllib.error.URLError
) -> str:
    path = url2pathname(unquote(urlparse(url).path))
    reason = error.reason
    problem = (
        "does not exist"
        if isinstance(reason, FileNotFoundError)
        else f"cannot be read ({getattr(reason, 'strerror', None) or reason})"
    )
    return f"could not download {url}: the file {path} {problem}. Instead:" + _remedies(
        dataset, archive, md5
    )


def _failure_message(
    dataset: str, url: str, archive: Path, md5: str | None, error: Exception
) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return _http_error_message(dataset, url, archive, md5, error)
    if isinstance(error, urllib.error.URLError) and urlparse(url).scheme == "file":
        return _file_url_message(dataset, url, archive, md5, error)
    return _no_network_message(dataset, url, archive, md5, getattr(error, "reason", error))


def _refuse_non_archive(part: Path, url: str, dataset: str, content_type: str | None) -> None:
    """A web page (a listing, a login or error page sent with status 200) is refused by what
    it is rather than as a checksum mismatch or a "truncated" archive."""
    received = content_type or "no Content-Type"
    if part.stat().st_size == 0:
        problem = f"received an empty file ({received})"
    elif (text := text_start(part)) is not None:
        problem = f"received {received}, a text file {describe_text(text)}"
    else:
        return
    part.unlink()
    raise DownloadError(
        f"{url} is not an archive: {problem}; the file was removed. "
        f"Set datasets.{dataset}.url to the URL of the archive file itself."
    )


def fetch(
    url: str, archive: Path, dataset: str, md5: str | None, logger: logging.Logger = LOGGER
) -> str:
    """Download ``url`` to ``partial_path(archive)``; returns its MD5. The caller moves it into
    place: at once when ``md5`` matched, after the structure checks when there is none.

    A web page instead of an archive, or an MD5 mismatch, removes the file; the error names
    the URL (and both checksums).
    """
    part = partial_path(archive)
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
            content_type = response.headers.get("Content-Type")
            actual = _stream(response, part, offset, logger)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise DownloadError(_failure_message(dataset, url, archive, md5, error)) from None
    _refuse_non_archive(part, url, dataset, content_type)
    if md5 is not None and actual.lower() != md5.lower():
        part.unlink()
        raise DownloadError(
            f"checksum mismatch for {url}: expected MD5 {md5}, got {actual}; "
            "the downloaded file was removed. If this mirror is trusted, set "
            f"datasets.{dataset}.md5 to its checksum."
        )
    return actual


def _reusable_archive(archive: Path, md5: str | None, logger: logging.Logger) -> str | None:
    """The MD5 of an archive already in place (copied by hand or kept from an earlier run)
    when it matches ``md5``. Without an expected MD5 nothing is reused: the URL may have
    changed and only a fresh download is known to come from it. A mismatching archive is
    left alone: it is the one of the dataset in place until a verified one replaces it."""
    if md5 is None or not archive.is_file():
        return None
    actual = md5_file(archive)
    if actual.lower() == md5.lower():
        logger.info("using %s already in place (MD5 %s matches)", archive, actual)
        return actual
    logger.info("%s has MD5 %s, not %s: downloading again", archive, actual, md5)
    return None


def _obtain_archive(
    url: str, archive: Path, dataset: str, md5: str | None, logger: logging.Logger
) -> tuple[Path, str]:
    """The file to extract and its MD5: ``archive`` once verified, else the ``.part``."""
    actual = _reusable_archive(archive, md5, logger)
    if actual is not None:
        return archive, actual
    actual = fetch(url, archive, dataset, md5, logger)
    if md5 is None:
        return partial_path(archive), actual
    logger.info("MD5 %s verified", actual)
    # Verified: kept under its name even if extraction fails, so a rerun needs no network.
    os.replace(partial_path(archive), archive)
    return archive, actual


def _clear_leftovers(dataset_dir: Path) -> None:
    # Temporary extractions of killed runs (or links named like them); safe under the lock.
    for leftover in dataset_dir.iterdir():
        if leftover.name.startswith(EXTRACT_PREFIX):
            remove_path(leftover)


def _extract_checked(
    dataset: str, source: Path, staging: Path, url: str, logger: logging.Logger
) -> dict[str, Any]:
    """Extract into ``staging`` and run the structure checks; errors name the URL and the
    archive member, not the temporary folder (gone by the time anyone reads the message)."""
    label = f"archive {url}"
    logger.info("extracting %s", source)
    safe_extract(source, staging, source=label,
                 limits=get_dataset(dataset).archive or DEFAULT_LIMITS)
    try:
        return check_structure(dataset, staging)
    except StructureError as error:
        if not error.path.is_relative_to(staging):
            raise
        member = PurePosixPath(error.path.relative_to(staging).as_posix())
        raise StructureError(member, error.problem, source=label) from None


def _install(dataset: str, dataset_dir: Path, staging: Path, source: Path, archive: Path) -> None:
    """Replace the dataset in place by the checked extraction in ``staging``.

    The old manifest goes first: a kill from here on leaves files without a manifest (an
    unfinished download), never an old manifest over new files. Only renames follow, and the
    old folder is moved into ``staging`` (removed by the caller), so a link in its place is
    moved, not followed.
    """
    remove_path(manifest_path(dataset_dir))
    if source != archive:
        os.replace(source, archive)
    target = dataset_dir / top_folder(dataset)
    if target.is_symlink() or target.exists():
        os.replace(target, staging / "previous")
    os.replace(staging / top_folder(dataset), target)


def _unverified_warning(
    manifest: dict[str, Any], dataset: str, actual: str, logger: logging.Logger
) -> None:
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


def stands_for_source(dataset: str, dataset_dir: Path, md5: str | None) -> dict[str, Any] | None:
    """The manifest in place when its dataset already is the configured source's, else None.

    Only a verified dataset stands for a source: its manifest was verified against this
    ``md5`` (from any URL: a mirror serves the same archive), and the files on disk pass
    the structure checks with the manifest's counts (what ``archopt datasets`` calls
    ``ok``). Without an expected MD5 nothing does: as for an archive in place, only a fresh
    download is known to come from ``url``.
    """
    if md5 is None:
        return None
    try:
        manifest = read_manifest(dataset_dir)
    except ValueError:
        return None
    if manifest is None or not manifest.get("verified"):
        return None
    if str(manifest.get("md5_expected")).lower() != md5.lower():
        return None
    try:
        found = check_structure(dataset, dataset_dir)
    except StructureError:
        return None
    return manifest if found["counts"] == manifest.get("counts") else None


def download_dataset(
    dataset: str,
    dataset_dir: str | Path,
    url: str,
    md5: str | None,
    logger: logging.Logger = LOGGER,
) -> dict[str, Any]:
    """Fetch, verify and extract ``dataset`` into ``dataset_dir``; returns the manifest.

    On any failure the dataset that was in place (files, manifest, archive) is left as it was.
    When that dataset already stands for the source (:func:`stands_for_source`: e.g. the
    job reruns after a failed re-download once the MD5 is set back) it is kept as is and
    its manifest returned.
    """
    check_dataset_name(dataset)
    dataset_dir = Path(dataset_dir)
    archive = dataset_dir / archive_name(url, dataset)
    with dataset_lock(dataset_dir, logger):
        _clear_leftovers(dataset_dir)
        in_place = stands_for_source(dataset, dataset_dir, md5)
        if in_place is not None:
            logger.info(
                "%s already in place from this source (%s, MD5 %s): nothing to download",
                dataset,
                in_place.get("url"),
                in_place.get("md5_actual"),
            )
            return in_place
        started = time.monotonic()
        source, actual = _obtain_archive(url, archive, dataset, md5, logger)
        staging = Path(tempfile.mkdtemp(prefix=EXTRACT_PREFIX, dir=dataset_dir))
        try:
            try:
                found = _extract_checked(dataset, source, staging, url, logger)
            except (ArchiveError, StructureError):
                if source != archive:  # not verified and not acceptable: do not keep it
                    source.unlink(missing_ok=True)
                raise
            manifest = build_manifest(
                dataset,
                url=url,
                md5_expected=md5,
                md5_actual=actual,
                archive=archive.name,
                archive_bytes=source.stat().st_size,
                seconds=round(time.monotonic() - started, 3),
                **found,
            )
            if not manifest["verified"]:
                _unverified_warning(manifest, dataset, actual, logger)
            _install(dataset, dataset_dir, staging, source, archive)
        finally:
            remove_path(staging)
        write_manifest(dataset_dir, manifest)
        logger.info("%s ready: %s", dataset, found["counts"])
    return manifest
