"""Reading (and storing) a batch of files on every core.

Reading — calamine, finding the header, identifying the unit, matching and checking every row
— is CPU work on pure inputs. Worker processes take chunks of files, with a bounded number of
chunks in flight (memory stays flat at any batch size), and the caller gets the results in the
order given. ``receive`` has each worker also store its chunk (``duban_app.receive``): the rows
then never cross a pipe, and one reader stores while the other reads. ``read`` only parses.

Workers are forked from this process when it runs a single thread, else from a forkserver (a
clean, single-threaded process that has imported the readers once); they get the catalogue,
unit directory and settings once at start, and are kept for the next batch of the same run.
A worker that dies — a reader abort that no ``except`` can catch — is replaced: its chunk is
read again one file per task, and a file that kills a worker again is quarantined with the
reason instead of stopping the batch.

Example:
    >>> with ReaderPool(catalogue, directory, cfg, home, workers=2, store_url=url) as pool:
    ...     for report in pool.receive([(path, None)], "2026Q4", version, crashed=store_quarantined):
    ...         total.merge(report)
"""

from __future__ import annotations

import atexit
import gc
import logging
import multiprocessing
import multiprocessing.util
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from pathlib import Path
from typing import Any

from duban.domain import Catalogue
from duban.settings import CollectionConfig
from duban.units import UnitDirectory
from duban_app.parse import ParsedFile, crashed_file
from duban_app.reader_tasks import ReadJob, init, noop, read_task, receive_task
from duban_app.receive import Job
from duban_app.report import CollectReport

__all__ = ["ReaderPool", "reader_pool", "worker_count"]

log = logging.getLogger("duban.collect")


def worker_count(configured: int) -> int:
    """``collection.read_workers``: 0 means one per core this process may use. Inside a daemonic
    process (a Dask or multiprocessing worker, already one of many) files are read in-process."""
    if multiprocessing.current_process().daemon:
        return 1
    if configured > 0:
        return configured
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _start_method() -> Any:
    """``fork`` when this process runs one thread (instant, nothing to import or send again);
    otherwise a forkserver, because forking a process with other threads (a Prefect run, a
    progress bar) can copy a lock that one of them holds."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(["duban_app.readers"])
    return mp


class ReaderPool:
    """Worker processes holding one catalogue, directory and settings; see the module docstring."""

    def __init__(
        self,
        catalogue: Catalogue,
        directory: UnitDirectory,
        cfg: CollectionConfig,
        home: Path,
        *,
        workers: int,
        store_url: str | None = None,
    ) -> None:
        self.state = (catalogue, directory, cfg, home, store_url)
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None
        self._tickets = 0  # chunks sent to ``receive`` on this executor

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            mp = _start_method()
            # only a pool that stores takes turns: a reading-only pool makes no shared semaphores
            # (nor, through a forkserver, the resource-tracker process that would track them)
            turns = (mp.Condition(), mp.Value("q", 0, lock=False)) if self.state[4] else None
            self._tickets = 0
            executor = ProcessPoolExecutor(
                self.workers, mp_context=mp, initializer=init, initargs=(os.getpid(), *self.state, turns)
            )
            # The processes start at the first task. Objects alive now are frozen out of the
            # collector while they do: a forked reader would otherwise scan (and so copy) the
            # whole inherited heap at each full collection.
            frozen_already = gc.get_freeze_count() > 0  # by the caller, for its own reasons: keep it
            gc.freeze()
            try:
                for f in [executor.submit(noop) for _ in range(self.workers)]:
                    f.result()
            finally:
                if not frozen_already:
                    gc.unfreeze()
            self._executor = executor
        return self._executor

    def start(self) -> ReaderPool:
        """Start the reader processes now: call it before starting threads (a progress bar) so
        that they are forked from this process, which is faster than through a forkserver."""
        self._pool()
        return self

    def _restart(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None

    def __enter__(self) -> ReaderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(
        self, jobs: Iterable[ReadJob], period: str | None = None, *, chunk: int = 16
    ) -> Iterator[ParsedFile]:
        """Parse every (path, sha256), yielding in the order given."""
        home = self.state[3]
        crashed = lambda job: crashed_file(*job, home)  # noqa: E731
        return self._run(read_task, (period,), jobs, chunk, crashed, ordered=False)

    def receive(
        self,
        jobs: Iterable[Job],
        period: str | None,
        version: int,
        *,
        crashed: Callable[[Job], CollectReport],
        chunk: int = 16,
    ) -> Iterator[CollectReport]:
        """Read and store every (path, received_at), each chunk in one transaction of the worker
        (``duban_app.receive``); a report per file, in the order given. ``crashed`` stores, in
        this process, a file whose reading killed a worker twice."""
        return self._run(receive_task, (period, version), jobs, chunk, crashed, ordered=True)

    def _run(
        self,
        task: Callable[..., list[Any]],
        args: tuple[Any, ...],
        jobs: Iterable[Any],
        chunk: int,
        crashed: Callable[[Any], Any],
        *,
        ordered: bool,
    ) -> Iterator[Any]:
        """``task(chunk, *args)`` on the workers (``task(chunk, ticket, *args)`` when
        ``ordered``), results per job in order; at most ``3 × workers`` chunks of ``chunk`` jobs
        in flight. ``jobs`` is consumed as chunks are sent (it may be a generator)."""

        def send(part: list[Any]) -> Future[list[Any]]:
            pool = self._pool()
            if not ordered:
                return pool.submit(task, part, *args)
            self._tickets += 1
            return pool.submit(task, part, self._tickets - 1, *args)

        source = iter(jobs)
        chunks: deque[list[Any]] = deque()
        flight: deque[tuple[list[Any], Future[list[Any]]]] = deque()

        def refill() -> None:
            while len(chunks) + len(flight) < self.workers * 3 and (part := list(islice(source, chunk))):
                chunks.append(part)

        refill()
        while chunks or flight:
            try:
                while chunks and len(flight) < self.workers * 3:
                    fut = send(chunks[0])
                    flight.append((chunks.popleft(), fut))  # taken only once submitted: never lost
                    refill()
                part, fut = flight[0]
                done = fut.result()
                flight.popleft()
            except BrokenProcessPool:
                log.warning("a reader process died; reading its files again one by one")
                self._restart()
                pending = [p for p, _ in flight] + list(chunks)
                pending += list(iter(lambda: list(islice(source, chunk)), []))
                flight.clear()
                chunks.clear()
                for part in pending:
                    yield from self._one_by_one(send, part, crashed)
                continue
            refill()
            yield from done

    def _one_by_one(
        self, send: Callable[[list[Any]], Future[list[Any]]], jobs: list[Any], crashed: Callable[[Any], Any]
    ) -> Iterator[Any]:
        for job in jobs:
            try:
                yield send([job]).result()[0]
            except BrokenProcessPool:
                log.error("the reader process died reading %s; the file is quarantined", job[0])
                self._restart()
                yield crashed(job)


_SHARED: tuple[Any, ReaderPool] | None = None


def reader_pool(
    catalogue: Catalogue,
    directory: UnitDirectory,
    cfg: CollectionConfig,
    home: Path,
    *,
    workers: int,
    store_url: str | None = None,
) -> ReaderPool:
    """The process's pool for these inputs, kept between batches of one run (started once)."""
    global _SHARED
    key = (
        id(catalogue),
        directory.source,
        _mtime(directory.source),
        cfg.model_dump_json(),
        str(home),
        workers,
        store_url,
    )
    if _SHARED is not None and _SHARED[0] == key and _SHARED[1].state[0] is catalogue:
        return _SHARED[1]
    if _SHARED is not None:
        _SHARED[1].close()
    _SHARED = (key, ReaderPool(catalogue, directory, cfg, home, workers=workers, store_url=store_url))
    return _SHARED[1]


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _close_shared() -> None:
    if _SHARED is not None:
        _SHARED[1].close()


# multiprocessing's exit handler joins every child process before atexit handlers run (in a
# process that is itself a multiprocessing child), so the kept pool is closed from there, by a
# finalizer that runs before the queues' own (priority 10: they stop the feeder threads that
# would carry the workers' stop signal). atexit covers a plain interpreter exit.
multiprocessing.util.Finalize(None, _close_shared, exitpriority=100)
atexit.register(_close_shared)
