"""Bulk inserts through the driver (``duban.store.bulk``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import delete, select

from duban.collect.rows import SUBMISSION, SUBMISSION_COLUMNS
from duban.store.bulk import insert_returning_ids
from duban.store.db import SHANGHAI


def _row(key: str) -> tuple[object, ...]:
    at = datetime(2026, 10, 8, 9, 30, tzinfo=SHANGHAI)
    values = {
        "dedupe_key": key,
        "period": "2026Q3",
        "unit": "市府办",
        "source": "file",
        "source_ref": f"inbox/{key}.xlsx",
        "received_at": at,
        "stored_at": at,
        "state": "accepted",
        "meta": {"k": key},
        "raw_rows": [{"row": 1}],
    }
    return tuple(values.get(c) for c in SUBMISSION_COLUMNS)


def test_ids_come_back_in_the_order_of_the_rows(store):
    with store.session() as s:
        first = insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, [_row(f"k{i}") for i in range(50)])
        # the newest rows deleted: SQLite gives their ids again (largest + 1), and says which
        s.execute(delete(SUBMISSION).where(SUBMISSION.c.dedupe_key.in_(["k48", "k49"])))
        second = insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, [_row(f"n{i}") for i in range(7)])
    assert len(first) == 50 and len(set(first)) == 50 and len(set(second)) == 7
    with store.session() as s:
        by_id = {i: k for i, k in s.execute(select(SUBMISSION.c.id, SUBMISSION.c.dedupe_key))}
    assert [by_id.get(i) for i in first[:48]] == [f"k{i}" for i in range(48)]
    assert [by_id[i] for i in second] == [f"n{i}" for i in range(7)]


def test_a_failed_batch_leaves_nothing(store):
    with pytest.raises(Exception), store.session() as s:  # noqa: B017 - the driver's own IntegrityError
        insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, [_row("dup"), _row("dup")])
    with store.session() as s:
        assert s.scalar(select(SUBMISSION.c.id)) is None
