"""The current entries of a period as the fast readers see them, on SQLite and PostgreSQL.

Rows are written straight into the tables here, so that cases collection never produces
(the same item in two accepted submissions, an item filed under another period than its
submission) are covered as well.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime

import pytest

from duban.domain import Role
from duban.entries import TEXTS, read_current, received_items
from duban.ledger import invalid_values, period_findings
from duban.reconcile import (
    assignment_role,
    current_entries,
    expected_pairs,
    period_status,
    unit_items,
    unit_status,
)
from duban.store.db import Store
from duban.store.models import FindingRow, SubmissionItemRow, SubmissionRow
from tests.builders import SH, WeekdayCalendar, at, catalogue, item

PERIOD = "2026Q4"
_KEYS = itertools.count()
DEADLINE = date(2027, 1, 8)  # a Friday


def _submission(
    store: Store,
    unit: str,
    items: list[dict],
    *,
    received: datetime,
    state: str = "accepted",
    period: str = PERIOD,
    ref: str = "",
) -> int:
    with store.session() as s:
        row = SubmissionRow(
            dedupe_key=f"test:{next(_KEYS)}",
            period=period,
            unit=unit,
            source="file",
            source_ref=ref or f"/in/{unit}.xlsx",
            received_at=received,
            stored_at=received,
            state=state,
        )
        s.add(row)
        s.flush()
        for it in items:
            s.add(
                SubmissionItemRow(
                    submission_id=row.id,
                    period=it.pop("period", PERIOD),
                    unit=unit,
                    **{"status": "推进中", "progress": 50.0, "narrative": "按计划推进", **it},
                )
            )
        return row.id


def test_the_latest_received_accepted_submission_wins_whatever_the_insertion_order(store: Store) -> None:
    day5 = _submission(
        store, "市发改委", [{"item_id": "T01", "progress": 10.0}], received=at(date(2027, 1, 5))
    )
    day6 = _submission(
        store, "市发改委", [{"item_id": "T01", "progress": 60.0}], received=at(date(2027, 1, 6))
    )
    _submission(store, "市发改委", [{"item_id": "T01", "progress": 30.0}], received=at(date(2027, 1, 4)))
    _submission(
        store,
        "市发改委",
        [{"item_id": "T01", "progress": 99.0}],
        received=at(date(2027, 1, 7)),
        state="superseded",
    )
    entries = current_entries(store, PERIOD)
    assert list(entries) == [("市发改委", "T01")]
    e = entries[("市发改委", "T01")]
    assert (e.progress, e.submission_id, e.received_at) == (60.0, day6, at(date(2027, 1, 6)))
    assert e.received_at.tzinfo is not None and e.received_at.utcoffset() == at(date(2027, 1, 6)).utcoffset()
    # the same time twice: the later submission (higher id) wins, as before
    tie = _submission(
        store, "市发改委", [{"item_id": "T01", "progress": 70.0}], received=at(date(2027, 1, 6))
    )
    assert current_entries(store, PERIOD)[("市发改委", "T01")].submission_id == tie > day5


def test_texts_are_read_only_when_asked_for(store: Store) -> None:
    _submission(
        store,
        "市发改委",
        [
            {
                "item_id": "T01",
                "narrative": "进展",
                "problems": "问题",
                "next_steps": "计划",
                "coordination": "协调",
            }
        ],
        received=at(date(2027, 1, 5)),
    )
    key = ("市发改委", "T01")
    full = current_entries(store, PERIOD)[key]
    assert (full.narrative, full.problems, full.next_steps, full.coordination) == (
        "进展",
        "问题",
        "计划",
        "协调",
    )
    bare = current_entries(store, PERIOD, texts=())[key]
    assert (bare.narrative, bare.problems, bare.next_steps, bare.coordination) == ("", "", "", "")
    assert (bare.status, bare.progress, bare.valid, bare.source_ref) == (
        full.status,
        50.0,
        True,
        "/in/市发改委.xlsx",
    )
    some = current_entries(store, PERIOD, texts=("coordination", "narrative"))[key]
    assert (some.narrative, some.problems, some.coordination) == ("进展", "", "协调")
    with pytest.raises(ValueError, match="unknown"):
        current_entries(store, PERIOD, texts=("remarks",))
    assert TEXTS == ("narrative", "problems", "next_steps", "coordination")


def test_an_item_filed_under_another_period_than_its_submission_is_still_current(store: Store) -> None:
    sid = _submission(
        store,
        "市经信局",
        [{"item_id": "T03", "period": PERIOD}],
        received=at(date(2027, 1, 5)),
        period="2026Q3",
    )
    cur = read_current(store, PERIOD, ("status",))
    assert cur.units == {"市经信局": {"T03": (sid, "市经信局", "T03", "推进中")}}
    assert cur.received[sid][0] == at(date(2027, 1, 5))


def test_one_unit_and_received_items(store: Store) -> None:
    _submission(store, "市发改委", [{"item_id": "T01"}, {"item_id": "T02"}], received=at(date(2027, 1, 5)))
    _submission(store, "市经信局", [{"item_id": "T03"}], received=at(date(2027, 1, 6)))
    _submission(store, "市经信局", [{"item_id": "T09"}], received=at(date(2027, 1, 6)), state="quarantined")
    assert set(current_entries(store, PERIOD, unit="市经信局")) == {("市经信局", "T03")}
    assert received_items(store, PERIOD) == {"市发改委": {"T01", "T02"}, "市经信局": {"T03"}}
    assert received_items(store, PERIOD, unit="市发改委") == {"市发改委": {"T01", "T02"}}
    assert received_items(store, "2026Q3") == {}


def test_period_status_is_unit_status_of_the_current_entries(store: Store) -> None:
    cat = catalogue()
    _submission(
        store,
        "市发改委",
        [{"item_id": "T01"}, {"item_id": "T02", "valid": False}],
        received=at(date(2027, 1, 8)),
    )
    _submission(
        store, "市大数据局", [{"item_id": "T01"}], received=at(date(2027, 1, 12))
    )  # 2 working days late
    _submission(store, "市经信局", [{"item_id": "T03"}, {"item_id": "T01"}], received=at(date(2027, 1, 9)))
    cal = WeekdayCalendar()
    fast = period_status(store, cat, PERIOD, DEADLINE, cal)
    slow = unit_status(cat, current_entries(store, PERIOD), DEADLINE, cal)
    assert [vars(u) for u in fast] == [vars(u) for u in slow]
    by_unit = {u.unit: u for u in fast}
    assert [u.unit for u in fast] == sorted(by_unit)
    mine = by_unit["市发改委"]
    assert (mine.on_time, mine.invalid_items, mine.missing_items) == (2, ["T02"], ["T03"])
    assert (by_unit["市大数据局"].late, by_unit["市大数据局"].late_days) == (1, 2)
    # a Saturday is after the deadline (late) but no working day late
    assert (by_unit["市经信局"].late, by_unit["市经信局"].late_days, by_unit["市经信局"].expected) == (
        1,
        0,
        1,
    )


def test_unit_items_and_roles_are_the_expected_pairs_by_unit() -> None:
    cat = catalogue(
        [
            item(
                "T01", 1, "甲", ["市发改委", "市大数据局", "市发改委"]
            ),  # named twice: counted once, as lead
            item("T02", 2, "乙", ["市大数据局"], placeholders=("市级有关单位",)),
        ]
    )
    pairs = expected_pairs(cat)
    assert pairs == [
        ("T01", "市发改委", Role.LEAD),
        ("T01", "市大数据局", Role.CO),
        ("T02", "市大数据局", Role.LEAD),
    ]
    pairs.append(("T09", "x", Role.CO))  # a caller's copy: the cached pairs stay as they were
    assert len(expected_pairs(cat)) == 3
    assert dict(unit_items(cat)) == {"市发改委": ("T01",), "市大数据局": ("T01", "T02")}
    assert [(i, u, assignment_role(cat, u, i)) for u, items in unit_items(cat).items() for i in items] == [
        ("T01", "市发改委", Role.LEAD),
        ("T01", "市大数据局", Role.CO),
        ("T02", "市大数据局", Role.LEAD),
    ]


def test_invalid_values_are_collections_and_skip_superseded_files(store: Store) -> None:
    old = _submission(
        store, "市发改委", [{"item_id": "T01"}], received=at(date(2027, 1, 4)), state="superseded"
    )
    new = _submission(store, "市发改委", [{"item_id": "T01"}], received=at(date(2027, 1, 5)))
    other = _submission(store, "市经信局", [{"item_id": "T03"}], received=at(date(2027, 1, 5)))
    now = datetime(2027, 1, 9, tzinfo=SH)
    with store.session() as s:
        for sid, unit, kind, origin, ev in [
            (old, "市发改委", "invalid_value", "collect", {"row": 3}),
            (
                new,
                "市发改委",
                "invalid_value",
                "collect",
                {"row": 4, "column": "完成进度(%)", "value": "八成"},
            ),
            (new, "市发改委", "unknown_item", "collect", {}),
            (None, "市发改委", "invalid_value", "reconcile", {}),
            (other, "市经信局", "invalid_value", "collect", {"row": 5}),
        ]:
            s.add(
                FindingRow(
                    period=PERIOD,
                    origin=origin,
                    kind=kind,
                    unit=unit,
                    item_id="T01",
                    submission_id=sid,
                    message_zh=f"{unit}{kind}",
                    message_en=kind,
                    evidence=ev,
                    created_at=now,
                )
            )
    values = invalid_values(store, PERIOD)
    assert [(u, ev.get("row")) for u, _i, ev, _m in values] == [("市发改委", 4), ("市经信局", 5)]
    assert invalid_values(store, PERIOD, unit="市发改委") == [
        ("市发改委", "T01", {"row": 4, "column": "完成进度(%)", "value": "八成"}, "市发改委invalid_value")
    ]
    narrowed = period_findings(store, PERIOD, unit="市发改委", kind="invalid_value", origin="collect")
    assert [f.evidence.get("row") for f in narrowed] == [4]
    assert len(period_findings(store, PERIOD)) == 4  # the superseded file's finding is left out
