"""Parsed inputs kept on disk, keyed by exactly what they were made from.

Every command and every flow task opens its own context: a 5,000-unit ``units.yaml`` takes a
quarter of a second to parse and an 80,000-assignment catalogue as long to read back from the
store, while the same data marshalled loads in milliseconds. The file name is a hash of the key
(the input's bytes, or a stored version's identity) and of the interpreter's marshal format, so
a changed input is a new file, never a stale hit; a damaged or foreign file reads as a miss.
Values are plain data (dict, list, tuple, str, int, float, bool, None).

Example:
    >>> data = load(cache_dir, "units", text)
    >>> if data is None:
    ...     data = parse(text)
    ...     save(cache_dir, "units", text, data)
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from duban.gcpause import no_gc

__all__ = ["load", "save"]

log = logging.getLogger(__name__)
#: Files kept per kind: enough for a few catalogue versions or directory edits in use at once.
KEEP = 4
_FORMAT = f"duban-1 marshal {marshal.version} py{sys.version_info[0]}.{sys.version_info[1]}".encode()


def _path(cache_dir: Path, kind: str, key: bytes) -> Path:
    digest = hashlib.sha256(_FORMAT + b"\0" + kind.encode() + b"\0" + key).hexdigest()[:40]
    return cache_dir / f"{kind}-{digest}.marshal"


def load(cache_dir: Path, kind: str, key: bytes) -> Any | None:
    """The value saved under ``key``, or None (absent, unreadable or damaged)."""
    try:
        blob = _path(cache_dir, kind, key).read_bytes()
        with no_gc():
            return marshal.loads(blob)
    except (OSError, EOFError, ValueError, TypeError):
        return None


def save(cache_dir: Path, kind: str, key: bytes, value: Any) -> None:
    """Keep ``value`` for the next process; never fails the caller (the cache is an optimisation)."""
    dest = _path(cache_dir, kind, key)
    try:
        blob = marshal.dumps(value)
    except ValueError:  # a value marshal cannot hold (a date in the YAML): just don't cache it
        return
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(blob)
        tmp.replace(dest)
        older = sorted(cache_dir.glob(f"{kind}-*.marshal"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in older[KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("cache %s not written: %s", dest, exc)
        tmp.unlink(missing_ok=True)
