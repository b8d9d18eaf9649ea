"""What runs inside a reader process (``duban_app.readers``): its state, its tasks, its turns.

A reader gets the catalogue, unit directory and settings once at start (``init``) and opens its
own connection to the store at its first chunk. ``receive_task`` reads and stores a chunk
(``duban_app.receive``), waiting for its turn (``Turn``) to store so that chunks are stored in
the order they were sent; ``read_task`` only parses. A reader leaves when the process that owns
the pool is gone (``_watch``).
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from duban.domain import Catalogue
from duban.settings import CollectionConfig
from duban.store import Store
from duban.units import UnitDirectory
from duban_app.parse import ParsedFile, in_groups, load_content, parse_contents
from duban_app.receive import Job, Reading, receive_chunk
from duban_app.report import CollectReport

__all__ = ["TURN_TIMEOUT_S", "ReadJob", "Turn", "init", "noop", "read_task", "receive_task"]

ReadJob = tuple[Path, str]  # (path, sha256)
_STATE: tuple[Catalogue, UnitDirectory, CollectionConfig, Path, str | None] | None = None
_STORE: Store | None = None  # the worker's own connection to the store (``receive``)
_TURNS: tuple[Any, Any] | None = None  # (condition, next ticket to store): see ``Turn``


def init(
    owner: int,
    catalogue: Catalogue,
    directory: UnitDirectory,
    cfg: CollectionConfig,
    home: Path,
    store_url: str | None,
    turns: tuple[Any, Any] | None,
) -> None:
    """The pool's initializer: what every chunk of this reader is read against, given once."""
    global _STATE, _STORE, _TURNS
    _STATE = (catalogue, directory, cfg, home, store_url)
    _STORE = None  # never the parent's engine: connections do not survive a fork
    _TURNS = turns
    gc.freeze()  # what the reader was given lives as long as it does: never worth scanning
    gc.set_threshold(20_000, 20, 20)  # parsing allocates many short-lived objects, few cycles
    # the parent is read here, before the owner can see this reader ready: read in the thread, it
    # could be read after the owner died, as the process the reader was handed to, and never change
    watch = (owner, os.getppid())
    threading.Thread(target=_watch, args=watch, name="duban-reader-owner", daemon=True).start()


def _watch(owner: int, parent: int) -> None:
    """Leave when the process that owns the pool is gone (killed, crashed): nothing else would
    stop an idle reader. Its parent — the owner, or the forkserver, which leaves with the owner —
    changes when it dies; a killed owner can also stay a zombie, whose pid still takes signals."""
    while True:
        time.sleep(1)
        if os.getppid() != parent or _gone(owner):
            os._exit(0)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # PermissionError: the pid went to another user
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):  # no /proc (not Linux): the parent check above decides
        return False


def noop() -> None:
    return None


def read_task(jobs: list[ReadJob], period: str | None) -> list[ParsedFile]:
    assert _STATE is not None, "reader worker started without its state"
    catalogue, directory, cfg, home, _ = _STATE
    with _no_collection():
        loading = ((p, sha, load_content(p, cfg.max_file_bytes)) for p, sha in jobs)
        groups = in_groups(loading, lambda f: len(f[2] or b""))
        return [
            one for g in groups for one in parse_contents(g, catalogue, directory, cfg, home, period=period)
        ]


def receive_task(jobs: list[Job], ticket: int, period: str | None, version: int) -> list[CollectReport]:
    global _STORE
    assert _STATE is not None, "reader worker started without its state"
    catalogue, directory, cfg, home, url = _STATE
    assert url is not None, "a pool made without a store cannot store"
    turn = Turn(ticket)
    try:
        if _STORE is None:
            _STORE = Store(url)  # migrated by the owner already
        with _no_collection():
            reading = Reading(catalogue, version, directory, cfg, home, period)
            return receive_chunk(_STORE, jobs, reading, turn=turn)
    finally:
        turn.pass_on()  # a chunk that failed before storing still hands the turn on, in order


#: A reader waits this long at most for the chunk before its own to be stored: far longer than
#: any chunk takes, so only a lost turn (a bug) ends there — with an error, not a hang.
TURN_TIMEOUT_S = 900.0


class Turn:
    """Store chunks in the order they were sent, whichever reader finishes reading first: the
    first of two files with the same content keeps its name, and of a unit's files with the
    same arrival time the one given later wins, as when one process reads them all.

    Chunks leave the queue in order, so every ticket before this one is on a reader already;
    each hands the turn on exactly once — after storing, or in ``pass_on`` when its chunk
    failed before it got there — so no reader waits for a turn that never comes. (A reader
    that dies breaks the pool, which stops the others.)
    """

    def __init__(self, ticket: int) -> None:
        self.ticket = ticket
        self.done = False

    def _wait(self) -> None:
        assert _TURNS is not None
        cond, following = _TURNS
        with cond:
            if cond.wait_for(lambda: following.value >= self.ticket, timeout=TURN_TIMEOUT_S):
                return
        self._hand_on()  # unblock the chunks after this one, then fail this one
        raise RuntimeError(f"chunk {self.ticket}: the chunks before it were never stored")

    def __enter__(self) -> None:
        self._wait()

    def __exit__(self, *exc: object) -> None:
        self._hand_on()

    def pass_on(self) -> None:
        if not self.done:
            self._wait()
            self._hand_on()

    def _hand_on(self) -> None:
        assert _TURNS is not None
        cond, following = _TURNS
        with cond:
            following.value = max(following.value, self.ticket + 1)
            cond.notify_all()
        self.done = True


@contextmanager
def _no_collection() -> Iterator[None]:
    """Reading makes many short-lived objects and hardly any cycles: no collections while a
    chunk is read, one young collection after it (what survives is the chunk's result)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)
