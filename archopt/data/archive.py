"""Safe extraction of downloaded tar archives.

Every member is checked before anything is written, so a hostile or broken archive is
refused as a whole with an error naming the offending member. Python's ``filter="data"``
then guards the extraction itself as a second line of defence.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
import zlib
from pathlib import Path, PurePosixPath


class ArchiveError(ValueError):
    """The archive is unreadable or contains a member archopt refuses to extract."""


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) is not None


def _outside(path: str) -> bool:
    """True for a path that, once '..' are resolved, lies outside the extraction directory."""
    normal = posixpath.normpath(path)
    return _is_absolute(path) or normal == ".." or normal.startswith("../")


def unsafe_reason(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be extracted, or ``None`` for a plain file, folder or inner link."""
    if _is_absolute(member.name):
        return "absolute path"
    if ".." in PurePosixPath(member.name).parts:
        return "'..' in its path"
    if member.ischr() or member.isblk() or member.isfifo():
        return "device or FIFO file"
    if member.issym():
        if _outside(posixpath.join(posixpath.dirname(member.name), member.linkname)):
            return f"symbolic link pointing outside the archive ({member.linkname})"
    elif member.islnk():
        if _outside(member.linkname):
            return f"hard link pointing outside the archive ({member.linkname})"
    elif not (member.isfile() or member.isdir()):
        return "unsupported member type"
    return None


def read_members(archive: Path) -> list[tarfile.TarInfo]:
    """All members, each checked; reading the whole index also detects a truncated archive."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ArchiveError(f"{archive}: truncated or not a tar archive ({error})") from None
    for member in members:
        reason = unsafe_reason(member)
        if reason is not None:
            raise ArchiveError(f"{archive}: refusing to extract member {member.name!r}: {reason}")
    return members


def safe_extract(archive: Path, dest: Path) -> int:
    """Extract ``archive`` into the existing directory ``dest``; returns the member count."""
    members = read_members(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ArchiveError(f"{archive}: extraction failed ({error})") from None
    return len(members)
