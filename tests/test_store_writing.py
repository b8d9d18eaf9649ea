"""Writers in several processes store received submissions one at a time (``Store.writing``):
no content stored twice, no key clash, exactly one accepted submission per unit and period."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from multiprocessing import get_context

from sqlalchemy import select

from duban.collect.intake import NewSubmission, Received, store_submissions
from duban.store import Store
from duban.store.db import SHANGHAI
from duban.store.models import SubmissionRow
from tests.builders import reported

ROUNDS = 60


def _write(url: str, writer: int) -> int:
    """In a spawned process: each round stores a new version from 市大数据局 (distinct content,
    later arrival) and a file whose content the other writer stores too."""
    store = Store(url)
    start = datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)
    try:
        for n in range(ROUNDS):
            at = start + timedelta(minutes=2 * n + writer)
            own = Received("file", f"/inbox/w{writer}-{n}.xlsx", at, sha256=f"{writer}{n:063d}")
            shared = Received("file", f"/inbox/shared-{n}-{writer}.xlsx", at, sha256=f"s{n:063d}")
            store_submissions(
                store,
                [
                    NewSubmission(own, "2026Q4", "市大数据局", items=[reported("T01", "市大数据局")]),
                    NewSubmission(shared, "2026Q4", "市公安局", items=[reported("T02", "市公安局")]),
                ],
            )
    finally:
        store.dispose()
    return ROUNDS


def test_writers_in_two_processes_store_each_content_once_and_keep_one_accepted(store: Store) -> None:
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        done = [f.result() for f in [pool.submit(_write, store.url, w) for w in (1, 2)]]
    assert done == [ROUNDS, ROUNDS]  # neither writer failed (no unique-key clash, no busy error)
    with store.session() as s:
        rows = list(s.execute(select(SubmissionRow.unit, SubmissionRow.state, SubmissionRow.received_at)))
    own = [r for r in rows if r.unit == "市大数据局"]
    shared = [r for r in rows if r.unit == "市公安局"]
    assert len(own) == 2 * ROUNDS and len(shared) == ROUNDS  # each shared content stored once
    assert [r.state for r in own].count("accepted") == 1
    assert [r.state for r in shared].count("accepted") == 1
    newest = max(own, key=lambda r: r.received_at)
    assert newest.state == "accepted"
