"""Row matching and value checks (every problem a finding, nothing dropped); unit and period identity."""

from __future__ import annotations

from datetime import date
from typing import Any

from duban.collect.identify import identify
from duban.collect.validate import invalid_rows, parse_number, validate_table
from duban.domain import (
    Assignment,
    Catalogue,
    Finding,
    FindingKind,
    Item,
    Plan,
    Role,
    SheetTable,
    SubmissionRow,
)
from duban.units import Unit, UnitDirectory

TITLES = {
    "T01": (1, "建立经济社会发展态势全面感知体系", ["市发改委", "市大数据局"]),
    "T02": (2, "完善经济高质量发展监测预警调度机制", ["市发改委"]),
    "T03": (3, "提升经济政策精准制定及统筹协调能力", ["市经信局", "市发改委"]),
    "T07": (7, "提升社会矛盾化解能力", ["市委政法委"]),
    "T08": (8, "提升社会治安防控能力", ["市公安局"]),
    "T40": (None, "加强组织领导", ["市数字政府办"]),
}


def _item(item_id: str, number: int | None, title: str, units: list[str]) -> Item:
    assignments = tuple(
        Assignment(unit=u, role=Role.LEAD if i == 0 else Role.CO, position=i, raw=u)
        for i, u in enumerate(units)
    )
    return Item(item_id, number, "二", "部分", None, None, title, f"{title}。具体内容略。", assignments)


CAT = Catalogue(
    Plan("测政发〔2026〕1号", "测试实施方案", date(2026, 1, 1)),
    tuple(_item(k, n, t, u) for k, (n, t, u) in TITLES.items()),
)

GOOD = {"status": "推进中", "progress": "60%", "narrative": "已完成方案编制"}


def table(*rows: dict[str, Any], columns: dict[str, str] | None = None) -> SheetTable:
    return SheetTable(
        source="t.xlsx",
        sheet="填报表",
        header_row=3,
        columns=columns or {},
        rows=[SubmissionRow(row=4 + i, values=v) for i, v in enumerate(rows)],
    )


def run(*rows: dict[str, Any], **kw: Any) -> tuple[list, list[Finding]]:
    return validate_table(table(*rows, **kw), CAT, "市发改委", "2026Q4")


def kinds(findings: list[Finding]) -> list[FindingKind]:
    return [f.kind for f in findings]


def test_matches_by_id_then_number_then_title() -> None:
    items, findings = run(
        {"item_id": "T01", **GOOD},
        {"number": "2.", **GOOD},
        {"number": "任务3", **GOOD},
        {"title": "加强组织领导", **GOOD},
        {"title": "建立经济社会发展态势感知体系", "item_id": "", **GOOD},
    )
    assert findings[-1].kind is FindingKind.DUPLICATE  # T01 twice: id on row 4, title on row 8
    got = {(i.item_id, i.match_method, i.row) for i in items}
    assert got == {("T02", "number", 5), ("T03", "number", 6), ("T40", "title", 7), ("T01", "title", 8)}
    assert [i.item_id for i in items][-1] == "T01"
    first = items[0]
    assert (first.unit, first.status, first.progress, first.narrative, first.sheet) == (
        "市发改委",
        "推进中",
        60.0,
        "已完成方案编制",
        "填报表",
    )


def test_duplicate_keeps_the_last_row_and_says_which() -> None:
    items, findings = run(
        {"item_id": "T02", **GOOD, "progress": 40},
        {"item_id": "T02", **GOOD, "progress": 70},
    )
    assert len(items) == 1 and items[0].progress == 70 and items[0].row == 5
    (dup,) = findings
    assert dup.kind is FindingKind.DUPLICATE and dup.item_id == "T02"
    assert dup.evidence["rows"] == [4, 5] and dup.evidence["kept_row"] == 5
    assert "第4行与第5行" in dup.message_zh and "已采用第5行" in dup.message_zh


def test_untouched_template_rows_are_skipped_silently() -> None:
    items, findings = run(
        {"item_id": "T01", "number": 1, "title": TITLES["T01"][1], "role": "牵头", "reporter": "张三"},
        {"item_id": "T02", **GOOD},
    )
    assert [i.item_id for i in items] == ["T02"] and findings == []


def test_number_contradicted_by_title_follows_the_title() -> None:
    # The unit numbered its own list 1..n: row "1" is really task 8.
    items, findings = run({"number": 1, "title": "提升社会治安防控能力", **GOOD})
    assert findings == []
    assert (items[0].item_id, items[0].match_method) == ("T08", "title")
    # A shortened title that agrees with the number keeps the number.
    items, _ = run({"number": 1, "title": "态势感知体系", **GOOD})
    assert (items[0].item_id, items[0].match_method) == ("T01", "number")


def test_low_confidence_title_is_not_accepted_and_names_the_candidate() -> None:
    items, findings = run({"title": "建立全面感知体系", **GOOD})
    assert items == []
    (f,) = findings
    assert f.kind is FindingKind.LOW_CONFIDENCE
    assert f.evidence["candidate"] == "T01" and 70 <= f.evidence["score"] < 90
    assert f.evidence["row"] == 4 and f.evidence["column"] == "工作任务"
    assert "建立经济社会发展态势全面感知体系" in f.message_zh and f.message_en


def test_tied_titles_are_low_confidence() -> None:
    items, findings = run({"title": "提升社会能力", **GOOD})
    assert items == [] and kinds(findings) == [FindingKind.LOW_CONFIDENCE]


def test_accept_and_suggest_thresholds_are_honoured() -> None:
    row = {"title": "建立全面感知体系", **GOOD}
    items, findings = validate_table(table(row), CAT, "市发改委", "2026Q4", accept=75, suggest=60)
    assert [i.item_id for i in items] == ["T01"] and items[0].match_method == "title" and findings == []
    items, findings = validate_table(table(row), CAT, "市发改委", "2026Q4", accept=95, suggest=90)
    assert items == [] and kinds(findings) == [FindingKind.UNKNOWN_ITEM]


def test_unknown_items() -> None:
    items, findings = run(
        {"title": "数字乡村建设", **GOOD},
        {"item_id": "X99", **GOOD},
        {**GOOD},
    )
    assert items == []
    assert kinds(findings) == [FindingKind.UNKNOWN_ITEM] * 3
    assert "数字乡村建设" in findings[0].message_zh
    assert "X99" in findings[1].message_zh
    assert "未填写任务编码、序号或工作任务" in findings[2].message_zh
    assert [f.evidence["row"] for f in findings] == [4, 5, 6]


def test_unassigned_items_are_still_returned() -> None:
    items, findings = run({"item_id": "T08", **GOOD})
    assert [i.item_id for i in items] == ["T08"] and findings == []


def test_bad_progress_keeps_the_row_with_the_field_blank() -> None:
    rows = [{"item_id": "T01", **GOOD} for _ in range(8)]
    rows.append({"item_id": "T02", "status": "推进中", "progress": "八十", "narrative": "x"})
    items, findings = run(*rows)
    kept = {i.item_id: i for i in items}
    assert kept["T02"].progress is None and kept["T02"].status == "推进中" and kept["T02"].row == 12
    (bad,) = [f for f in findings if f.kind is FindingKind.INVALID_VALUE]
    assert bad.message_zh == "第12行「完成进度(%)」的值“八十”无法识别，应为0–100的数字或百分比"
    assert bad.evidence["row"] == 12 and bad.evidence["column"] == "完成进度(%)"
    assert bad.evidence["value"] == "八十" and bad.evidence["expected"] == "0–100的数字或百分比"
    assert (bad.unit, bad.item_id, bad.period) == ("市发改委", "T02", "2026Q4")
    assert "row 12" in bad.message_en
    assert invalid_rows(findings) == {12}


def test_out_of_range_progress_and_unknown_status() -> None:
    items, findings = run({"item_id": "T01", "status": "基本完成", "progress": 120, "narrative": "x"})
    assert items[0].status is None and items[0].progress is None
    msgs = {f.evidence["column"]: f.message_zh for f in findings}
    assert "超出范围" in msgs["完成进度(%)"]
    assert (
        "“基本完成”不是规定的状态" in msgs["完成状态"]
        and "未启动、推进中、滞后、暂停、已完成" in msgs["完成状态"]
    )


def test_completed_with_progress_below_100_is_flagged_but_kept() -> None:
    items, findings = run(
        {"item_id": "T01", "status": "已完成", "progress": 0.8},
        {"item_id": "T02", "status": "完成", "progress": "100%"},
    )
    assert [(i.status, i.progress) for i in items] == [("已完成", 80.0), ("已完成", 100.0)]
    (f,) = findings
    assert f.kind is FindingKind.INVALID_VALUE and f.evidence["row"] == 4 and "已完成" in f.message_zh


def test_narrative_required_unless_completed_and_status_required() -> None:
    items, findings = run(
        {"item_id": "T01", "status": "滞后", "progress": 30},
        {"item_id": "T02", "status": "已完成", "progress": 100},
        {"item_id": "T03", "progress": 50, "narrative": "推进顺利"},
    )
    assert len(items) == 3
    assert [(f.evidence["row"], f.evidence["field"]) for f in findings] == [(4, "narrative"), (6, "status")]
    assert "本期进展情况" in findings[0].message_zh and "滞后" in findings[0].message_zh
    assert invalid_rows(findings) == {4, 6}


def test_messages_use_the_units_own_headings_and_text_cells_are_text() -> None:
    items, findings = run(
        {"item_id": "T01", "status": "推进中", "progress": "很多", "narrative": "x", "phone": 13812345678.0},
        columns={"item_id": "编码", "progress": "进度", "status": "状态", "narrative": "工作进展"},
    )
    assert findings[0].message_zh.startswith("第4行「进度」的值“很多”")
    assert items[0].phone == "13812345678"


def test_parse_number_forms() -> None:
    assert [parse_number(v) for v in (3, 3.0, "3", "3.", "3、", "（3）", "任务3", "第3项", " 3 ")] == [3] * 9
    assert [parse_number(v) for v in (None, "", "三", 3.5, "3-1", True)] == [None] * 6


# ----------------------------------------------------------------------------- identify

DIRECTORY = UnitDirectory(
    [
        Unit("市发改委", "丽水市发展和改革委员会", ("市发展改革委",), ("fgw@ls.example.cn",)),
        Unit("市财政局", "丽水市财政局", (), ("czj@ls.example.cn",)),
        Unit("市委", "中共丽水市委员会", (), ()),
        Unit("市委办", "中共丽水市委办公室", (), ()),
    ],
    ["市级有关单位"],
)


def sheet(
    meta: dict[str, str] | None = None,
    *,
    unit_hint: str | None = None,
    period_hint: str | None = None,
    units: tuple[str, ...] = (),
) -> SheetTable:
    rows = [SubmissionRow(4 + i, {"unit": u, **GOOD}) for i, u in enumerate(units)]
    return SheetTable(
        "f.xlsx", "Sheet1", 1, {}, rows, meta=meta or {}, unit_hint=unit_hint, period_hint=period_hint
    )


def test_identify_from_template_metadata() -> None:
    ident = identify(
        sheet({"unit": "市发改委", "period": "2026Q4"}), DIRECTORY, filename="x.xlsx", cli_period="2026Q4"
    )
    assert (ident.unit, ident.unit_method, ident.period, ident.period_method) == (
        "市发改委",
        "meta",
        "2026Q4",
        "meta",
    )
    assert ident.findings == []


def test_identify_falls_back_hint_column_filename_sender() -> None:
    assert identify(sheet(unit_hint="丽水市财政局"), DIRECTORY, filename="a.xlsx").unit == "市财政局"
    col = identify(sheet(units=("市财政局", "", "市财政局")), DIRECTORY, filename="a.xlsx")
    assert (col.unit, col.unit_method) == ("市财政局", "column")
    mixed = identify(sheet(units=("市财政局", "市发改委")), DIRECTORY, filename="2026Q4_市委办_报表.xlsx")
    assert (mixed.unit, mixed.unit_method) == ("市委办", "filename")  # longest name in the file name wins
    by_sender = identify(sheet(), DIRECTORY, filename="a.xlsx", sender="张三 <CZJ@ls.example.cn>")
    assert (by_sender.unit, by_sender.unit_method) == ("市财政局", "sender")
    mapped = identify(
        sheet(), DIRECTORY, filename="a.xlsx", sender="x@qq.com", senders={"X@qq.com": "市发改委"}
    )
    assert mapped.unit == "市发改委"


def test_identify_unknown_unit_with_suggestion_and_nothing_at_all() -> None:
    ident = identify(sheet(unit_hint="市发改局"), DIRECTORY, filename="a.xlsx", cli_period="2026Q4")
    assert ident.unit is None and ident.unit_method == "none"
    (f,) = ident.findings
    assert f.kind is FindingKind.UNKNOWN_UNIT and f.evidence["suggestion"] == "市发改委"
    assert "是否为“市发改委”" in f.message_zh and f.period == "2026Q4"
    # A weaker candidate still succeeds; the unknown name is reported so the directory gains the alias.
    ident = identify(sheet(unit_hint="市发改局"), DIRECTORY, filename="市发改委.xlsx")
    assert ident.unit == "市发改委" and ident.findings[0].kind is FindingKind.UNKNOWN_UNIT
    nothing = identify(sheet(), DIRECTORY, filename="a.xlsx", cli_period="2026Q4")
    assert nothing.unit is None and [f.kind for f in nothing.findings] == [FindingKind.UNKNOWN_UNIT]
    placeholder = identify(sheet(unit_hint="市级有关单位"), DIRECTORY, filename="a.xlsx")
    assert placeholder.unit is None and "不是具体的报送单位" in placeholder.findings[0].message_zh


def test_identify_conflicting_units_keeps_the_strongest() -> None:
    ident = identify(sheet({"unit": "市发改委"}, unit_hint="市财政局"), DIRECTORY, filename="a.xlsx")
    assert ident.unit == "市发改委"
    (f,) = [f for f in ident.findings if f.kind is not FindingKind.UNKNOWN_PERIOD]
    assert f.kind is FindingKind.CONFLICT and f.evidence["others"] == ["市财政局"]
    assert "市发改委、市财政局" in f.message_zh


def test_identify_period_order_and_conflict_with_the_collection_period() -> None:
    hint = identify(sheet(unit_hint="市发改委", period_hint="2026年第四季度"), DIRECTORY, filename="a.xlsx")
    assert (hint.period, hint.period_method) == ("2026Q4", "hint")
    cli = identify(sheet(unit_hint="市发改委"), DIRECTORY, filename="2026Q3.xlsx", cli_period="2026-Q4")
    assert (cli.period, cli.period_method) == ("2026Q4", "cli")
    fname = identify(sheet(unit_hint="市发改委"), DIRECTORY, filename="in/2026Q3_市发改委.xlsx")
    assert (fname.period, fname.period_method) == ("2026Q3", "filename")
    old = identify(
        sheet({"unit": "市发改委", "period": "2026Q3"}), DIRECTORY, filename="a.xlsx", cli_period="2026Q4"
    )
    assert (old.period, old.period_method) == ("2026Q3", "meta")
    (f,) = old.findings
    assert f.kind is FindingKind.CONFLICT and f.evidence["collecting"] == "2026Q4" and f.unit == "市发改委"
    assert "请使用本期模板重新报送" in f.message_zh
    none = identify(sheet({"period": "上个季度"}, unit_hint="市发改委"), DIRECTORY, filename="a.xlsx")
    assert none.period is None and [f.kind for f in none.findings] == [FindingKind.UNKNOWN_PERIOD] * 2
