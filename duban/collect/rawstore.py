"""The raw store: every received file kept byte for byte under ``DUBAN_HOME/raw``, by its sha256.

This copy is the submission's record of what arrived — the database keeps the items and
findings read from it, not its rows — so it must be whole: a file under its final name
either is complete or is found out and written again.

Example:
    >>> keep_raw(home, Path("inbox/市大数据局.xlsx"), sha, data)
    PosixPath('var/raw/3f/3f9c…e1.xlsx')
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

__all__ = ["file_sha256", "keep_raw", "raw_path"]

#: Raw-store folders known to exist in this process (one mkdir each, not one per file).
_RAW_DIRS: set[str] = set()
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def raw_path(home: Path, path: Path, sha256: str) -> Path:
    """Where the raw copy of a file with this content and name lives."""
    return Path(_raw_name(str(home), path.suffix, sha256))


def _raw_name(home: str, suffix: str, sha256: str) -> str:
    # plain strings: a batch keeps thousands of files, and three pathlib joins cost more than writing one
    return f"{home}{os.sep}raw{os.sep}{sha256[:2]}{os.sep}{sha256}{suffix.lower()}"


def keep_raw(home: Path, path: Path, sha256: str, data: bytes | None = None) -> Path:
    """Copy a received file into the raw store (once); ``data`` is its content when the caller
    has read it already (written from memory instead of copying the file again).

    The copy is created under its final name, exclusively: one file creation, no rename (a
    rename costs as much again, for 2,000 files a batch). A copy that exists already is
    trusted only when its content has the expected hash; one left short by a crash, or
    written by a process that is still writing, is replaced through a temporary file.
    """
    dest = _raw_name(str(home), path.suffix, sha256)
    folder = os.path.dirname(dest)
    if folder not in _RAW_DIRS:
        os.makedirs(folder, exist_ok=True)
        _RAW_DIRS.add(folder)
    try:
        fd = os.open(dest, _NEW, 0o644)
    except FileExistsError:
        if not _whole(Path(dest), sha256):
            _replace(Path(dest), path, data)
        return Path(dest)
    except FileNotFoundError:
        if os.path.isdir(folder):
            raise
        _RAW_DIRS.discard(folder)  # the raw store was removed under us: make the folder again
        return keep_raw(home, path, sha256, data)
    try:
        if data is None:
            with path.open("rb") as src, os.fdopen(os.dup(fd), "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        else:
            _write_all(fd, data)
    except BaseException:
        _discard(Path(dest), os.fstat(fd).st_ino)
        raise
    finally:
        os.close(fd)
    return Path(dest)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _discard(dest: Path, made: int) -> None:
    """Never leave a short copy under the final name — unless another process has replaced it
    with a whole one meanwhile (``_replace``)."""
    try:
        if dest.stat().st_ino == made:
            dest.unlink()
    except OSError:
        pass


def file_sha256(path: Path) -> str:
    """The content hash a received file is kept and recognised by (read a block at a time)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _whole(dest: Path, sha256: str) -> bool:
    try:
        return file_sha256(dest) == sha256
    except OSError:
        return False


def _replace(dest: Path, path: Path, data: bytes | None) -> None:
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    if data is None:
        shutil.copyfile(path, tmp)
    else:
        tmp.write_bytes(data)
    tmp.replace(dest)
