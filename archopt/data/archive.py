"""Safe extraction of downloaded tar archives.

Every member is checked before anything is written, so a hostile or broken archive is
refused as a whole with an error naming the offending member. The official dataset archives
hold plain files and folders only, so links of any kind are refused: even a link inside the
archive can make a checked layout point elsewhere once moved into place (``maps -> .``
passes the structure checks in the temporary folder and dangles in ``resources/``).
Python's ``filter="data"`` then guards the extraction itself as a second line of defence.

A dataset may also bound its archive (:class:`ArchiveLimits`, declared in its dataset file):
which member names it defines, how many members and how many bytes once extracted. The
limits are checked on the archive's index, before anything is written, so a small archive
of zeros or of 20,000 junk files is refused without filling the disk.
"""

from __future__ import annotations

import codecs
import errno
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class ArchiveError(ValueError):
    """The archive is unreadable or contains a member archopt refuses to extract."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What a dataset's archive may hold (``Dataset.archive``): member names matching one
    of ``members`` (regular expressions of the whole name, folders without their ``/``),
    at most ``max_members`` members and ``max_bytes`` bytes of files in all. Bounds
    with room above the official archive: a mirror may pack it differently, never
    hold more."""

    members: tuple[str, ...]
    max_members: int
    max_bytes: int

    def defines(self, name: str) -> bool:
        return any(re.fullmatch(pattern, name) for pattern in self.members)


# Without limits of its own (a plugin's dataset), an archive may hold anything safe up to:
DEFAULT_LIMITS = ArchiveLimits(members=(r".+",), max_members=1_000_000, max_bytes=64 << 30)
MIB = 1 << 20


def disk_full(error: OSError) -> bool:
    """Whether ``error`` says the disk (or the user's quota) is full."""
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) is not None


def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be extracted, or ``None`` for a plain file or folder."""
    if _is_absolute(member.name):
        return "absolute path"
    if ".." in PurePosixPath(member.name).parts:
        return "'..' in its path"
    if member.ischr() or member.isblk() or member.isfifo():
        return "device or FIFO file"
    if member.issym():
        return f"symbolic link to {member.linkname!r} (the official archives have no links)"
    if member.islnk():
        return f"hard link to {member.linkname!r} (the official archives have no links)"
    if not (member.isfile() or member.isdir()):
        return "unsupported member type"
    return None


def text_start(path: Path, limit: int = 512) -> str | None:
    """The first characters of ``path`` when it is text, else ``None``.

    Compressed data and tar headers (NUL-padded) are never valid NUL-free UTF-8 over their
    first 512 bytes, so text there means a web page or message instead of an archive.
    """
    with open(path, "rb") as handle:
        head = handle.read(limit)
    if not head or b"\0" in head:
        return None
    try:  # incremental: a character cut at the limit is not an error
        return codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return None


def describe_text(text: str) -> str:
    """``starting '<!DOCTYPE HTML> <html ...'`` plus a hint when it is a web page."""
    snippet = " ".join(text.split())[:80]
    hint = ""
    if "<html" in text.lower() or "<!doctype html" in text.lower():
        hint = " (an HTML page: a directory listing, a login or an error page)"
    return f"starting {snippet!r}{hint}"


def _unreadable(archive: Path, label: str, error: Exception) -> ArchiveError:
    text = text_start(archive) if archive.is_file() else None
    if text is not None:
        return ArchiveError(f"{label}: not an archive but a text file {describe_text(text)}")
    return ArchiveError(f"{label}: truncated or not a tar archive ({error})")


def member_name(member: tarfile.TarInfo) -> str:
    """The name a member is checked by: ``./maps/`` and ``maps`` are the same folder, and
    ``./`` (an archive made with ``tar -C folder .``) is ``""``."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return "" if name in (".", "/") else name.rstrip("/")


def _within_limits(members: Iterator[tarfile.TarInfo], label: str,
                   limits: ArchiveLimits) -> Iterator[tarfile.TarInfo]:
    """``members`` as they are read, each checked; stops at the first one past a limit,
    so a huge index is never read whole. A member the dataset does not define is named
    once the index is read: an unsafe one (a link, ``..``) later on is named first."""
    count = total = 0
    undefined = None
    for member in members:
        reason = unsafe_reason(member)
        if reason is not None:
            raise ArchiveError(f"{label}: refusing to extract member {member.name!r}: {reason}")
        name = member_name(member)
        if undefined is None and name and not limits.defines(name):  # "": the root itself
            undefined = member.name
        count += 1
        total += member.size if member.isfile() else 0
        if count > limits.max_members:
            raise ArchiveError(f"{label}: more than {limits.max_members} members (member "
                               f"{member.name!r}): more than this dataset can have")
        if total > limits.max_bytes:
            raise ArchiveError(f"{label}: more than {limits.max_bytes / MIB:g} MiB once extracted "
                               f"(at member {member.name!r}): more than this dataset can be")
        yield member
    if undefined is not None:
        raise ArchiveError(f"{label}: refusing to extract member {undefined!r}: not a file or "
                           "folder of this dataset")


def read_members(archive: Path, source: str | None = None,
                 limits: ArchiveLimits = DEFAULT_LIMITS) -> list[tarfile.TarInfo]:
    """All members, each checked (against ``limits`` too); reading the whole index also
    detects a truncated archive.

    ``source`` is how messages name the archive (default: its path).
    """
    label = source or str(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            return list(_within_limits(iter(tar), label, limits))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise _unreadable(archive, label, error) from None


def safe_extract(archive: Path, dest: Path, source: str | None = None,
                 limits: ArchiveLimits = DEFAULT_LIMITS) -> int:
    """Extract ``archive`` into the existing directory ``dest``; returns the member count.

    ``source`` is how messages name the archive (default: its path); the download passes its
    URL, because an unverified archive is deleted once refused.
    """
    label = source or str(archive)
    members = read_members(archive, source, limits)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, members=members, filter="data")
    except OSError as error:
        if disk_full(error):
            raise ArchiveError(f"{label}: disk full while extracting into {dest.parent} "
                               f"({error.strerror}); nothing was kept: free space and "
                               "rerun") from None
        raise ArchiveError(f"{label}: extraction failed ({error})") from None
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ArchiveError(f"{label}: extraction failed ({error})") from None
    return len(members)
