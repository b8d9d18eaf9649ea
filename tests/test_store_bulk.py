"""Bulk inserts through the driver (``duban.store.bulk``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import delete, select

from duban.collect.rows import ITEM_COLUMNS, SUBMISSION, SUBMISSION_COLUMNS
from duban.store.bulk import insert_returning_ids, insert_rows
from duban.store.db import SHANGHAI
from duban.store.models import SubmissionItemRow

ITEM = SubmissionItemRow.__table__


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


def _item(sub_id: int, n: int) -> tuple[object, ...]:
    """An item row whose values vary in type row by row: None, floats, booleans, text with NUL-free CJK."""
    values = {
        "submission_id": sub_id,
        "period": "2026Q3",
        "unit": "市府办",
        "item_id": f"T{n:03d}",
        "status": None if n % 7 == 0 else "推进中",
        "progress": None if n % 5 == 0 else n / 3,
        "narrative": f"第{n}项进展" * (n % 4),
        "problems": "",
        "next_steps": "下步",
        "coordination": "",
        "reporter": "张三",
        "phone": str(n),
        "row": n + 4,
        "sheet": None if n % 2 else "填报表",
        "match_method": "title",
        "match_score": 91.5,
        "valid": n % 3 != 0,
    }
    return tuple(values[c] for c in ITEM_COLUMNS)


@pytest.mark.parametrize("count", [1, 2, 58, 59, 130])
def test_many_rows_at_once_store_what_row_by_row_stores(store, count):
    """On SQLite rows go in multi-row statements plus a remainder (58 item rows a statement):
    every count around that edge stores each row, in order, with its types, as the ORM reads them."""
    with store.session() as s:
        (sub_id,) = insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, [_row("owner")])
        insert_rows(s, ITEM, ITEM_COLUMNS, [_item(sub_id, n) for n in range(count)])
    with store.session() as s:
        got = s.execute(select(*(ITEM.c[c] for c in ITEM_COLUMNS)).order_by(ITEM.c.id)).all()
    assert [tuple(r) for r in got] == [_item(sub_id, n) for n in range(count)]
