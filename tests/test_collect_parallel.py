"""Collection on several reader processes stores exactly what one process stores, survives a dead
reader, and stores a batch of files in one go with the same rules as one file at a time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connectors.spreadsheets import read_tables
from duban.collect.intake import NewSubmission, Received, file_sha256, store_submissions
from duban.periods import parse_period, work_calendar
from duban.settings import REPO_ROOT, Settings
from duban.store import Store, open_store
from duban.store.db import SHANGHAI
from duban.store.models import FindingRow, SubmissionItemRow, SubmissionRow
from duban_app import parse, reader_tasks, receive
from duban_app.catalogue import import_plan
from duban_app.collect import collect_files, find_files
from duban_app.context import AppContext
from duban_app.readers import ReaderPool
from duban_app.receive import Reading, receive_crashed
from duban_app.report import CollectReport
from duban_app.simulate import generate_quarter
from tests.builders import reported
from tests.conftest import _truncate

PERIOD = "2026Q4"
PLAN = REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt"


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, datetime]]:
    """The demo's quarter for the seed plan (templates, home-made layouts, GBK CSV, invalid values,
    a resubmission), kept as .xlsx, plus a file that is not a spreadsheet and a renamed copy."""
    base = tmp_path_factory.mktemp("parallel")
    ctx = AppContext(Settings(home=base / "home"))
    try:
        import_plan(ctx, PLAN)
        catalogue, version = ctx.catalogue()
        period = parse_period(PERIOD, ctx.settings)
        folder = base / "returns"
        quarter = generate_quarter(
            catalogue, version, ctx.directory, period, work_calendar(ctx.settings), folder, convert=False
        )
    finally:
        ctx.close()
    (folder / "说明.xlsx").write_bytes(b"%PDF-1.4 not a workbook")
    first = sorted(folder.glob("*.xlsx"))[0]
    shutil.copyfile(first, folder / f"copy-of-{first.name}")
    arrivals = {str(a.path): a.at for a in quarter.arrivals}
    return folder, arrivals


def _collect(
    home: Path, folder: Path, arrivals: dict[str, datetime], workers: int, db: str | None = None
) -> dict[str, Any]:
    ctx = AppContext(Settings(home=home, database_url=db))
    try:
        import_plan(ctx, PLAN)
        fallback = datetime(2027, 1, 4, 9, tzinfo=SHANGHAI)
        rep = collect_files(
            ctx, find_files(folder), received_at=lambda p: arrivals.get(str(p), fallback), workers=workers
        )
        with ctx.store.session() as s:
            subs = sorted(
                (Path(r.source_ref).name, r.sheet, r.state, r.unit, r.period, r.sha256, r.reason)
                for r in s.scalars(select(SubmissionRow))
            )
            items = sorted(
                (r.unit, r.item_id, r.status, r.progress, r.narrative, r.valid, r.row)
                for r in s.scalars(select(SubmissionItemRow))
            )
            findings = sorted(
                (r.kind, r.unit or "", r.item_id or "", r.message_zh) for r in s.scalars(select(FindingRow))
            )
        return {"report": rep.as_dict(), "submissions": subs, "items": items, "findings": findings}
    finally:
        ctx.close()


def test_two_reader_processes_store_what_one_process_stores(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    folder, arrivals = inbox
    one = _collect(tmp_path / "one", folder, arrivals, workers=1)
    two = _collect(tmp_path / "two", folder, arrivals, workers=2)
    assert one == two
    rep = one["report"]
    assert rep["files"] == len(find_files(folder))
    assert rep["submissions_known"] == 1  # the renamed copy: same content, stored once
    assert rep["quarantined"] >= 1 and rep["findings"]["unreadable"] >= 1  # the PDF named .xlsx
    assert rep["findings"].get("invalid_value", 0) >= 1
    assert rep["items_accepted"] == len(one["items"])  # superseded files' items included: history
    states = {s[2] for s in one["submissions"]}
    assert "superseded" in states  # the demo quarter has a resubmission


@pytest.mark.postgres
def test_two_readers_storing_into_postgresql_store_what_one_process_stores(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path, pg_url: str
) -> None:
    """Each reader stores its chunks over its own connection, taking turns by the advisory lock."""
    folder, arrivals = inbox
    one = _collect(tmp_path / "one", folder, arrivals, workers=1)
    _truncate(open_store(pg_url))
    two = _collect(tmp_path / "two", folder, arrivals, workers=2, db=pg_url)
    assert one == two


def test_a_dead_reader_process_is_replaced_and_every_file_is_read_once(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    folder, _ = inbox
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, PLAN)
        catalogue, _ = ctx.catalogue()
        jobs = [(p, file_sha256(p)) for p in find_files(folder)]
        with ReaderPool(
            catalogue, ctx.directory, ctx.settings.collection, ctx.settings.home, workers=2
        ) as pool:
            assert [f.path for f in pool.read(jobs[:4], PERIOD, chunk=1)] == [p for p, _ in jobs[:4]]
            executor = pool._executor
            assert executor is not None
            victim = next(iter(executor._processes))  # a reader process, killed as an abort would
            os.kill(victim, signal.SIGKILL)
            parsed = list(pool.read(jobs, PERIOD, chunk=2))
            assert pool._executor is not executor  # replaced
    finally:
        ctx.close()
    assert [f.path for f in parsed] == [p for p, _ in jobs]
    assert [f.sha256 for f in parsed] == [sha for _, sha in jobs]
    readable = [f for f in parsed if f.quarantine is None]
    assert len(readable) == len(jobs) - 1  # only the PDF named .xlsx is refused
    assert all(t.unit for f in readable for t in f.tables)


def test_a_reader_killed_while_storing_loses_and_repeats_nothing(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    """A reader dies mid-batch (holding its turn, maybe mid-transaction): its chunk rolls back,
    the pool is replaced, the rest is read again and every file ends stored exactly once, as
    when one process collects the folder."""
    folder, arrivals = inbox
    expected = _collect(tmp_path / "one", folder, arrivals, workers=1)
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, PLAN)
        catalogue, version = ctx.catalogue()
        fallback = datetime(2027, 1, 4, 9, tzinfo=SHANGHAI)
        jobs = [(str(p), arrivals.get(str(p), fallback)) for p in find_files(folder)]
        reading = Reading(catalogue, version, ctx.directory, ctx.settings.collection, ctx.settings.home)
        with ReaderPool(
            catalogue,
            ctx.directory,
            ctx.settings.collection,
            ctx.settings.home,
            workers=2,
            store_url=ctx.settings.db_url,
        ) as pool:
            reports = pool.receive(
                jobs, None, version, chunk=3, crashed=lambda job: receive_crashed(ctx.store, job, reading)
            )
            done = [next(reports)]
            executor = pool._executor
            assert executor is not None
            for victim in list(executor._processes):  # both: one of them holds the turn
                os.kill(victim, signal.SIGKILL)
            done += list(reports)
            assert pool._executor is not executor  # replaced
        with ctx.store.session() as s:
            stored = sorted(
                (Path(r.source_ref).name, r.sheet, r.state, r.unit, r.period, r.sha256, r.reason)
                for r in s.scalars(select(SubmissionRow))
            )
            items = sorted(
                (r.unit, r.item_id, r.status, r.progress, r.narrative, r.valid, r.row)
                for r in s.scalars(select(SubmissionItemRow))
            )
    finally:
        ctx.close()
    assert len(done) == len(jobs) and sum(r.files for r in done) == len(jobs)
    assert stored == expected["submissions"]  # nothing lost, nothing stored twice
    assert items == expected["items"]


def test_a_file_is_kept_as_received_and_its_rows_are_counted_not_copied(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    """The raw copy is a file's record: byte for byte the file received, read again to the same
    rows; the store keeps how many rows were read, not a second copy of them."""
    folder, _ = inbox
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, PLAN)
        collect_files(ctx, find_files(folder), workers=1)
        with ctx.store.session() as s:
            subs = [r for r in s.scalars(select(SubmissionRow)) if r.state != "quarantined"]
    finally:
        ctx.close()
    assert subs
    for sub in subs:
        raw = Path(sub.raw_path or "")
        assert raw.parent.parent == tmp_path / "home" / "raw"
        assert file_sha256(raw) == sub.sha256 == file_sha256(Path(sub.source_ref))
        assert sub.raw_rows == []
        tables = {t.sheet: t for t in read_tables(raw)}
        assert sub.meta["rows"] == len(tables[sub.sheet].rows) > 0


def test_readers_store_in_the_order_given_so_the_later_of_equal_arrivals_wins(tmp_path: Path) -> None:
    """A unit's corrections arriving at the same second (unpacked from one archive): stored by
    two readers, one file per chunk, the one given last is accepted, as in one process."""
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, PLAN)
        catalogue, _ = ctx.catalogue()
        item = next(i for i in catalogue.items if i.assignments)
        unit = item.assignments[0].unit
        folder = tmp_path / "returns"
        folder.mkdir()
        paths = []
        for version in range(24):
            path = folder / f"{PERIOD}_{unit}_第{version:02d}版.csv"
            path.write_text(
                f"任务编码,完成状态,完成进度(%),本期进展情况\n{item.id},推进中,{version},第{version}版\n"
            )
            paths.append(path)
        same = datetime(2027, 1, 4, 9, tzinfo=SHANGHAI)
        rep = collect_files(ctx, paths, period=PERIOD, received_at=lambda _: same, workers=2)
        with ctx.store.session() as s:
            states = {Path(r.source_ref).name: r.state for r in s.scalars(select(SubmissionRow))}
    finally:
        ctx.close()
    assert rep.submissions_new == 24 and rep.quarantined == 0
    assert [name for name, state in states.items() if state == "accepted"] == [paths[-1].name]
    assert sorted(states.values()).count("superseded") == 23


def test_a_path_that_cannot_be_opened_is_quarantined_and_the_batch_goes_on(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    folder, _ = inbox
    files = find_files(folder)[:6]
    missing = tmp_path / "已删除.xlsx"
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, PLAN)
        rep = collect_files(ctx, [*files[:3], missing, folder, *files[3:]], period=PERIOD, workers=2)
        with ctx.store.session() as s:
            refused = {Path(r.source_ref).name: r.reason for r in s.scalars(select(SubmissionRow))}
            refused = {k: v for k, v in refused.items() if v and "cannot open" in v}
    finally:
        ctx.close()
    assert rep.files == 8
    assert sorted(refused) == sorted([missing.name, folder.name])  # a folder given as a file, too
    assert rep.findings["unreadable"] >= 2 and rep.submissions_new >= 8


def _received(name: str, at: datetime, sha: str) -> Received:
    return Received(source="file", source_ref=f"/inbox/{name}", received_at=at, sha256=sha)


def test_a_batch_keeps_the_latest_file_per_unit_and_stores_repeated_content_once(store: Store) -> None:
    at = datetime(2027, 1, 5, 10, tzinfo=SHANGHAI)
    older = NewSubmission(
        _received("v1.xlsx", at, "a" * 64), PERIOD, "市大数据局", items=[reported("T01", "市大数据局")]
    )
    newer = NewSubmission(
        _received("v2.xlsx", at + timedelta(hours=2), "b" * 64),
        PERIOD,
        "市大数据局",
        items=[reported("T01", "市大数据局", progress=90)],
    )
    again = NewSubmission(_received("v1-copy.xlsx", at, "a" * 64), PERIOD, "市大数据局", items=[])
    other = NewSubmission(_received("x.xlsx", at, "c" * 64), PERIOD, None)  # unit unknown
    # arrival order within the batch must not matter: the newer file is first
    out = store_submissions(store, [newer, older, again, other])
    assert [o.created for o in out] == [True, True, False, True]
    assert out[2].submission_id == out[1].submission_id
    assert (out[0].state, out[1].state, out[3].state) == ("accepted", "superseded", "quarantined")
    assert out[0].superseded == [out[1].submission_id]
    with store.session() as s:
        rows = {r.source_ref: (r.state, r.superseded_by) for r in s.scalars(select(SubmissionRow))}
        kinds = sorted(s.scalars(select(FindingRow.kind)))
        items = list(s.scalars(select(SubmissionItemRow)))
    assert rows["/inbox/v1.xlsx"] == ("superseded", out[0].submission_id)
    assert rows["/inbox/v2.xlsx"] == ("accepted", None)
    assert kinds == ["superseded"]
    assert sorted(i.progress for i in items) == [50.0, 90.0]  # history stays queryable
    # a rerun of the same batch changes nothing
    assert [o.created for o in store_submissions(store, [newer, older, again, other])] == [False] * 4


def collect_in_child(home: str, folder: str) -> int:
    """Run in a spawned multiprocessing child by the test below."""
    ctx = AppContext(Settings(home=Path(home)))
    try:
        import_plan(ctx, PLAN)
        return collect_files(ctx, find_files(Path(folder)), workers=2).files
    finally:
        ctx.close()


_CHILD = """
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from tests.test_collect_parallel import collect_in_child

with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
    print(pool.submit(collect_in_child, sys.argv[1], sys.argv[2]).result())
"""


def test_a_multiprocessing_child_that_collected_can_exit(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path
) -> None:
    """multiprocessing joins a child's children before atexit runs: the kept reader pool must be
    closed before that, or the child (a benchmark stage, a Dask-less worker) never exits."""
    folder, _ = inbox
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / "home"), str(folder)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == len(find_files(folder))


_ORPHAN = """
import os, signal, sys
from pathlib import Path
from duban.settings import Settings
from duban_app.catalogue import import_plan
from duban_app.context import AppContext
from duban_app.readers import ReaderPool
from tests.test_collect_parallel import PLAN

if sys.argv[2] == "late":  # each reader's watch starts after the owner has died
    import time
    import duban_app.reader_tasks as tasks
    watch = tasks._watch
    tasks._watch = lambda *args: (time.sleep(3), watch(*args))

ctx = AppContext(Settings(home=Path(sys.argv[1])))
import_plan(ctx, PLAN)
catalogue, _ = ctx.catalogue()
pool = ReaderPool(catalogue, ctx.directory, ctx.settings.collection, ctx.settings.home, workers=2).start()
print(" ".join(str(p) for p in pool._executor._processes), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no shutdown, no atexit: as when the OOM killer strikes
"""


@pytest.mark.parametrize("watch", ["at once", "late"])
def test_readers_leave_when_the_process_that_owns_them_is_killed(tmp_path: Path, watch: str) -> None:
    """The owner's death is seen by the parent pid the reader noted at start, and by the owner
    turning zombie: ``run`` reads the owner's output until every reader has left, so a reader
    that stayed would keep the owner unreaped and itself alive for ever (a watch that read its
    parent only after the owner died did, now and then, under load)."""
    done = subprocess.run(
        [sys.executable, "-c", _ORPHAN, str(tmp_path / "home"), watch],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    readers = [int(p) for p in done.stdout.split()]
    assert len(readers) == 2
    deadline = time.monotonic() + 30
    alive = readers
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [p for p in readers if _running(p)]
    assert alive == [], f"reader processes {alive} outlived their owner"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) has left
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _turn_task(jobs: list[str], ticket: int, log: str) -> list[str]:
    """A reader task shaped like ``reader_tasks.receive_task``: fails before storing on "boom"."""
    turn = reader_tasks.Turn(ticket)
    try:
        if jobs[0] == "boom":
            raise ValueError("failed before its turn")
        with turn, open(log, "a") as out:
            out.write(f"{ticket} {jobs[0]}\n")
        return jobs
    finally:
        turn.pass_on()


def test_a_chunk_failing_before_its_turn_passes_the_turn_on(tmp_path: Path) -> None:
    """Otherwise the reader holding the next chunk waits for ever, and so does the next batch
    on the kept pool (and the interpreter's exit, which joins it)."""
    log = tmp_path / "turns.log"
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, PLAN)
        catalogue, _ = ctx.catalogue()
        cfg, home, url = ctx.settings.collection, ctx.settings.home, ctx.settings.db_url
        pool = ReaderPool(catalogue, ctx.directory, cfg, home, workers=2, store_url=url)

        def batch(jobs: list[str]) -> list[str]:
            return list(pool._run(_turn_task, (str(log),), jobs, 1, lambda job: None, ordered=True))

        done: list[list[str]] = []
        try:
            with pytest.raises(ValueError, match="failed before its turn"):
                batch(["boom", "a", "b", "c"])
            worker = threading.Thread(target=lambda: done.append(batch(["x", "y", "z"])), daemon=True)
            worker.start()
            worker.join(60)
        finally:
            if not done and pool._executor is not None:  # a reader stuck waiting: end it, then fail
                for pid in list(pool._executor._processes):
                    os.kill(pid, signal.SIGKILL)
            pool.close()
        assert done == [["x", "y", "z"]], "the next batch waited for a turn that never came"
    finally:
        ctx.close()
    order = [int(line.split()[0]) for line in log.read_text().splitlines()]
    assert order == sorted(order)  # every chunk stored in the order it was sent
    assert [line.split()[1] for line in log.read_text().splitlines()][-3:] == ["x", "y", "z"]


def test_a_chunk_read_step_by_step_gives_what_each_file_read_alone_gives(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``parse_contents`` reads a chunk a step at a time over all its files; the result is
    the same as file by file, and a file whose checking fails is quarantined on its own."""
    folder, _ = inbox
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, PLAN)
        catalogue, _ = ctx.catalogue()
        cfg, home = ctx.settings.collection, ctx.settings.home
        paths = [*find_files(folder)[:11], folder / "说明.xlsx"]  # and a PDF named .xlsx
        files = [(p, file_sha256(p), parse.load_content(p, cfg.max_file_bytes)) for p in paths]
        args = (catalogue, ctx.directory, cfg, home)
        alone = [parse.parse_content(p, sha, data, *args, period=PERIOD) for p, sha, data in files]
        assert parse.parse_contents(files, *args, period=PERIOD) == alone
        big = max(len(data or b"") for _, _, data in files)
        monkeypatch.setattr(parse, "GROUP_BYTES", big + 1)  # bigger files go a few at a time
        groups = list(parse.in_groups(iter(files), lambda f: len(f[2] or b"")))
        assert 1 < len(groups) < len(files) and [f for g in groups for f in g] == files
        assert [p for g in groups for p in parse.parse_contents(g, *args, period=PERIOD)] == alone
        monkeypatch.undo()
        assert alone[-1].quarantine is not None and all(p.tables for p in alone[:-1])

        broken = next(p for p, parsed in zip(paths, alone, strict=True) if parsed.tables)
        checked = parse.validate_table

        def failing(table: Any, *rest: Any, **kw: Any) -> Any:
            if table.source == str(broken):
                raise ValueError("a checking bug")
            return checked(table, *rest, **kw)

        monkeypatch.setattr(parse, "validate_table", failing)
        again = parse.parse_contents(files, *args, period=PERIOD)
    finally:
        ctx.close()
    for path, before, after in zip(paths, alone, again, strict=True):
        if path == broken:
            assert after.tables == [] and after.quarantine is not None
            assert "ValueError" in after.quarantine[0] and "a checking bug" in after.quarantine[1]
        else:
            assert after == before


def test_a_chunk_of_big_files_is_read_a_few_at_a_time_and_stored_as_one(
    inbox: tuple[Path, dict[str, datetime]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``receive_chunk`` loads at most ``parse.GROUP_BYTES`` of files at once: with a budget of a
    few files the store ends the same — the renamed copy, in another group than its original,
    still known — as with the whole chunk at once."""
    folder, arrivals = inbox
    whole = _collect(tmp_path / "whole", folder, arrivals, workers=1)
    sizes = sorted(p.stat().st_size for p in find_files(folder))
    monkeypatch.setattr(parse, "GROUP_BYTES", sum(sizes[-3:]))
    groups = list(
        receive._loaded([(str(p), None) for p in find_files(folder)], [CollectReport()] * len(sizes), 10**9)
    )
    assert len(groups) > 3
    group_of = {Path(job[0]).name: i for i, group in enumerate(groups) for job, _, _ in group}
    copy = next(name for name in group_of if name.startswith("copy-of-"))
    assert group_of[copy] != group_of[copy.removeprefix("copy-of-")]
    assert _collect(tmp_path / "groups", folder, arrivals, workers=1) == whole
    assert whole["report"]["submissions_known"] == 1
