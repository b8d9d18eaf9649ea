"""The short path of validation (a clean row matched by id, values remembered from earlier rows)
gives what the full path gives; item rows keep their exact values."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from duban.collect.identify import identify
from duban.collect.rows import ITEM_FIELDS, item_rows, with_owner
from duban.collect.validate import validate_table
from duban.domain import Finding, FindingKind, ReportedItem
from duban.units import Unit, UnitDirectory
from tests.test_validate import CAT, table


def run(*rows: dict[str, Any]) -> tuple[list[ReportedItem], list[Finding]]:
    return validate_table(table(*rows), CAT, "市发改委", "2026Q4")


def test_every_reported_field_lands_in_its_place() -> None:
    # validate_table builds ReportedItem positionally: a reordered dataclass must fail here
    row = {
        "item_id": "T01",
        "status": "推进中",
        "progress": 0.655,
        "narrative": " 进展 ",
        "problems": "问题",
        "next_steps": "计划",
        "coordination": "协调",
        "reporter": "张三",
        "phone": 13812345678.0,
    }
    (got,), findings = run(row)
    assert findings == []
    assert got == ReportedItem(
        item_id="T01",
        unit="市发改委",
        status="推进中",
        progress=65.5,
        narrative="进展",
        problems="问题",
        next_steps="计划",
        coordination="协调",
        reporter="张三",
        phone="13812345678",
        row=4,
        sheet="填报表",
        match_method="id",
        match_score=100.0,
    )
    assert [f.name for f in fields(ReportedItem)][-4:] == ["row", "sheet", "match_method", "match_score"]


def test_remembered_cells_give_what_they_gave_the_first_time() -> None:
    rows = [
        {"item_id": " t02 ", "status": "正在推进", "progress": "60%", "narrative": "甲"},
        {"item_id": "T03", "status": "已完成（待验收）", "progress": "八成五", "narrative": ""},
        {"item_id": "T07", "status": "正在推进", "progress": "60%", "narrative": ""},
    ]
    first = run(*rows)
    again = run(*rows)  # now from _Matcher.id_texts, _STATUS_TEXTS and _PROGRESS_TEXTS
    assert repr(first) == repr(again)
    items, findings = again
    assert [(i.item_id, i.status, i.progress) for i in items] == [
        ("T02", "推进中", 60.0),
        ("T03", "已完成", 85.0),
        ("T07", "推进中", 60.0),
    ]
    # a remembered status or progress does not skip the checks between values
    assert sorted((f.kind, f.evidence["row"], f.evidence["field"]) for f in findings) == [
        (FindingKind.INVALID_VALUE, 5, "progress"),  # 已完成 at 85
        (FindingKind.INVALID_VALUE, 6, "narrative"),  # blank while 推进中
    ]


def test_number_cells_normalise_as_before() -> None:
    cells = [65.0, 0.5, 0.0, 1.0, 1, 100, 99.999, 33.333333, -0.0]
    rows = [{"item_id": "T01", "status": "推进中", "progress": p, "narrative": "甲"} for p in cells]
    progress = [validate_table(table(r), CAT, "市发改委", "2026Q4")[0][0].progress for r in rows]
    assert progress == [65.0, 50.0, 0.0, 1.0, 1.0, 100.0, 100.0, 33.33, 0.0]
    assert all(type(p) is float for p in progress)
    assert math.copysign(1, progress[-1]) == -1  # round(-0.0 * 100, 2), as normalise_progress gives


def test_bad_cells_still_take_the_full_way() -> None:
    ok = {"item_id": "T01", "status": "推进中", "narrative": "甲"}
    for _ in range(2):  # the second time with warm caches
        items, findings = run(
            {**ok, "progress": 150.0},
            {**ok, "item_id": "T02", "progress": float("nan")},
            {**ok, "item_id": "T03", "progress": True},
            {**ok, "item_id": "T07", "status": "未完成", "progress": 10},
            {**ok, "item_id": "T99", "progress": 10},
        )
        assert [(i.item_id, i.progress, i.status) for i in items] == [
            ("T01", None, "推进中"),
            ("T02", None, "推进中"),
            ("T03", None, "推进中"),
            ("T07", 10.0, None),
        ]
        assert [(f.kind, f.evidence["row"]) for f in findings] == [
            (FindingKind.INVALID_VALUE, 4),
            (FindingKind.INVALID_VALUE, 6),
            (FindingKind.INVALID_VALUE, 7),
            (FindingKind.UNKNOWN_ITEM, 8),
        ]


def test_item_rows_replace_nul_only_in_texts_and_mark_invalid_rows() -> None:
    a = ReportedItem("T01", "市发改委", "推进中", 50.0, narrative="进展\x00截断", problems="\x00", row=4)
    b = ReportedItem("T02", "市发改委", None, None, narrative="干净", row=5, sheet=None)
    bad = Finding(FindingKind.INVALID_VALUE, "zh", "en", evidence={"row": 5})
    rows = item_rows([a, b], [bad], "2026Q4", "市发改委")
    got = [dict(zip(ITEM_FIELDS, r, strict=True)) for r in rows]
    assert got[0]["narrative"] == "进展\ufffd截断" and got[0]["problems"] == "\ufffd"
    assert a.narrative == "进展\x00截断"  # the item itself is left as it was
    assert got[0]["valid"] is True and got[1]["valid"] is False
    assert got[1]["status"] is None and got[1]["progress"] is None and got[1]["sheet"] is None
    assert [r[:2] for r in with_owner(7, rows)] == [(7, "2026Q4"), (7, "2026Q4")]


def test_resolved_names_are_remembered_per_directory() -> None:
    a = UnitDirectory([Unit("市发改委", "测试市发展和改革委员会", ("发改委",), ())])
    b = UnitDirectory([Unit("市公安局", "测试市公安局", ("发改委",), ())])
    t = table({"item_id": "T01", "status": "推进中"})
    t.unit_hint = "发改委"
    assert identify(t, a, filename="x.xlsx").unit == "市发改委"
    assert identify(t, b, filename="x.xlsx").unit == "市公安局"
    assert identify(t, a, filename="x.xlsx").unit == "市发改委"
