"""Safe extraction of downloaded tar archives.

Every member is checked before anything is written, so a hostile or broken archive is
refused as a whole with an error naming the offending member. The official dataset archives
hold plain files and folders only, so links of any kind are refused: even a link inside the
archive can make a checked layout point elsewhere once moved into place (``maps -> .``
passes the structure checks in the temporary folder and dangles in ``resources/``).
Python's ``filter="data"`` then guards the extraction itself as a second line of defence.
"""

from __future__ import annotations

import codecs
import re
import tarfile
import zlib
from pathlib import Path, PurePosixPath


class ArchiveError(ValueError):
    """The archive is unreadable or contains a member archopt refuses to extract."""


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


def read_members(archive: Path, source: str | None = None) -> list[tarfile.TarInfo]:
    """All members, each checked; reading the whole index also detects a truncated archive.

    ``source`` is how messages name the archive (default: its path).
    """
    label = source or str(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise _unreadable(archive, label, error) from None
    for member in members:
        reason = unsafe_reason(member)
        if reason is not None:
            raise ArchiveError(f"{label}: refusing to extract member {member.name!r}: {reason}")
    return members


def safe_extract(archive: Path, dest: Path, source: str | None = None) -> int:
    """Extract ``archive`` into the existing directory ``dest``; returns the member count.

    ``source`` is how messages name the archive (default: its path); the download passes its
    URL, because an unverified archive is deleted once refused.
    """
    members = read_members(archive, source)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ArchiveError(f"{source or archive}: extraction failed ({error})") from None
    return len(members)
