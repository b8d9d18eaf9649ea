"""Header detection, synonyms, two-row headers, footers and identity hints — on plain grids."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from connectors.spreadsheets import (
    RawSheet,
    find_header,
    find_unit,
    match_header,
    normalize_period,
    parse_date,
    table_from_sheet,
)
from connectors.spreadsheets.hints import period_in_rows
from connectors.spreadsheets.layout import read_meta

HEADER = ["任务编码", "序号", "工作任务", "完成状态", "完成进度(%)", "本期进展情况", "存在问题", "下步计划"]


def _row(item: str, n: int, status: str = "推进中", progress: object = 50) -> list[object]:
    return [item, n, f"任务{n}", status, progress, f"进展{n}", "", "继续推进"]


def _table(rows: list[list[object]], **kw: object):
    return table_from_sheet(RawSheet(name="填报表", rows=rows, **kw), source="x.xlsx", file_name="x.xlsx")


@pytest.mark.parametrize(
    ("heading", "field"),
    [
        ("任务编码", "item_id"),
        ("任务ID", "item_id"),
        ("任务编号", "item_id"),
        ("序号", "number"),
        ("编号", "number"),
        ("*工作任务", "title"),
        ("重点任务", "title"),
        ("工作内容", "title"),
        ("责任单位", "unit"),
        ("单位名称", "unit"),
        ("角色", "role"),
        ("牵头单位", "lead_unit"),
        ("推进状态", "status"),
        ("完成情况（状态）", "status"),
        ("完成进度（%）", "progress"),
        ("完成进度\n(%)", "progress"),
        ("进度(%)", "progress"),
        ("完成率", "progress"),
        ("本期进展\n情况", "narrative"),
        ("工作进展", "narrative"),
        ("进展情况", "narrative"),
        ("推进情况", "narrative"),
        ("工作完成情况", "narrative"),
        ("2026年四季度进展", "narrative"),
        ("困难和问题", "problems"),
        ("存在问题 *", "problems"),
        ("下一步工作打算", "next_steps"),
        ("下步工作", "next_steps"),
        ("需协调解决的问题", "coordination"),
        ("协调事项", "coordination"),
        ("联系人", "reporter"),
        ("手机", "phone"),
        ("联系电话（手机）", "phone"),
    ],
)
def test_synonyms_map_to_canonical_fields(heading: str, field: str) -> None:
    found = match_header(heading)
    assert found is not None, heading
    assert found.field == field


@pytest.mark.parametrize(
    "text", ["完成时限", "备注", "丽水市深化数字政府建设实施方案 2026年第四季度工作进展报表", "", "推进中"]
)
def test_non_headings_match_nothing(text: str) -> None:
    assert match_header(text) is None


def test_header_below_title_and_unit_line() -> None:
    rows = [
        ["丽水市深化数字政府建设实施方案 2026年第四季度工作进展报表", "", "", "", "", "", "", ""],
        ["填报单位：市发改委　　报送期间：2026Q4　　截止日期：2027-01-08", "", "", "", "", "", "", ""],
        HEADER,
        _row("LS-01", 1),
        _row("LS-02", 2, "已完成", 100),
    ]
    table = _table(rows)
    assert table is not None
    assert table.header_row == 3
    assert table.columns["narrative"] == "本期进展情况"
    assert [r.row for r in table.rows] == [4, 5]
    assert table.rows[1].values["status"] == "已完成"
    assert table.rows[1].values["progress"] == 100
    assert table.rows[0].values["problems"] is None
    assert table.unit_hint == "市发改委"
    assert table.period_hint == "2026Q4"


def test_header_offset_is_kept_in_row_numbers() -> None:
    table = _table([HEADER, _row("LS-01", 1)], first_row=7, first_col=2)
    assert table is not None
    assert table.header_row == 7
    assert table.rows[0].row == 8


def test_two_row_header_with_group_label() -> None:
    upper = ["任务编码", "工作任务", "完成情况", "", "本期进展情况"]
    lower = ["", "", "完成状态", "完成进度", ""]
    table = _table([upper, lower, ["LS-01", "任务一", "推进中", 40, "已开展调研"]])
    assert table is not None
    assert table.header_row == 1
    assert table.columns == {
        "item_id": "任务编码",
        "title": "工作任务",
        "status": "完成状态",
        "progress": "完成进度",
        "narrative": "本期进展情况",
    }
    assert table.rows[0].row == 3
    assert table.rows[0].values["progress"] == 40
    assert any("two-row header" in n for n in table.notes)


def test_two_row_header_with_merged_cells() -> None:
    # 任务编码 / 工作任务 merged down over rows 1-2 (A1:A2, B1:B2), 完成情况 merged across C1:D1.
    upper = ["任务编码", "工作任务", "完成情况", ""]
    lower = ["", "", "完成状态", "完成进度(%)"]
    merged = [((0, 0), (1, 0)), ((0, 1), (1, 1)), ((0, 2), (0, 3))]
    table = _table([upper, lower, ["LS-01", "任务一", "已完成", 100]], merged=merged)
    assert table is not None
    assert set(table.columns) == {"item_id", "title", "status", "progress"}
    assert table.rows[0].values == {
        "item_id": "LS-01",
        "title": "任务一",
        "status": "已完成",
        "progress": 100,
    }


def test_cells_merged_down_in_the_body_are_read_on_each_row() -> None:
    rows = [
        ["任务编码", "工作任务", "本期进展情况", "存在问题"],
        ["LS-01", "共同任务", "甲完成", ""],
        ["LS-02", "", "乙完成", ""],
        ["LS-03", "另一任务", "丙写了一段跨两列的话", ""],
    ]
    # B2:B3 merged down; C4:D4 merged across (must not be copied into 存在问题).
    table = _table(rows, merged=[((1, 1), (2, 1)), ((3, 2), (3, 3))])
    assert table is not None
    assert [r.values["title"] for r in table.rows] == ["共同任务", "共同任务", "另一任务"]
    assert table.rows[2].values["problems"] is None
    assert any("merged down" in n for n in table.notes)


def test_ambiguous_completion_column_is_narrative_alone() -> None:
    table = _table([["任务编码", "工作任务", "完成情况"], ["LS-01", "任务一", "已完成验收"]])
    assert table is not None
    assert table.columns["narrative"] == "完成情况"


def test_ambiguous_completion_column_yields_to_a_narrative_column() -> None:
    table = _table([["任务编码", "完成情况", "本期进展情况"], ["LS-01", "已完成", "完成验收"]])
    assert table is not None
    assert table.columns["narrative"] == "本期进展情况"
    assert table.columns["status"] == "完成情况"
    assert table.rows[0].values["status"] == "已完成"


def test_renamed_columns_and_unknown_headers_noted() -> None:
    rows = [["序号", "重点任务", "工作进展", "备注", "完成时限"], [1, "任务一", "已完成", "无", "2026年底"]]
    table = _table(rows)
    assert table is not None
    assert table.columns == {"number": "序号", "title": "重点任务", "narrative": "工作进展"}
    assert table.rows[0].values == {"number": 1, "title": "任务一", "narrative": "已完成"}
    assert any("备注" in n and "完成时限" in n for n in table.notes)


def test_duplicate_field_columns_keep_the_first_and_note_the_rest() -> None:
    table = _table([["任务编码", "工作任务", "进展情况", "工作进展"], ["LS-01", "任务一", "甲", "乙"]])
    assert table is not None
    assert table.columns["narrative"] == "进展情况"
    assert table.rows[0].values["narrative"] == "甲"
    assert any("工作进展" in n and "ignored" in n for n in table.notes)


def test_blank_rows_skipped_and_footer_ends_table() -> None:
    rows = [
        HEADER,
        _row("LS-01", 1),
        [""] * 8,
        _row("LS-02", 2),
        ["合计", "", "", "", "", "", "", ""],
        _row("LS-99", 99),
    ]
    table = _table(rows)
    assert table is not None
    assert [r.values["item_id"] for r in table.rows] == ["LS-01", "LS-02"]
    assert any("footer" in n for n in table.notes)
    assert any("1 non-empty row" in n for n in table.notes)


@pytest.mark.parametrize(
    "footer", ["制表人：张三", "审核人:", "填报说明：请如实填写", "注：进度按百分比填写"]
)
def test_signature_and_instruction_footers(footer: str) -> None:
    table = _table([HEADER, _row("LS-01", 1), [footer, "", "", "", "", "", "", ""]])
    assert table is not None
    assert len(table.rows) == 1
    assert any(footer in n for n in table.notes)  # the footer's words are kept


def test_blank_run_of_five_ends_table() -> None:
    rows = [HEADER, _row("LS-01", 1), *([[""] * 8] * 4), _row("LS-02", 2), *([[""] * 8] * 5), _row("X", 3)]
    table = _table(rows)
    assert table is not None
    assert [r.values["item_id"] for r in table.rows] == ["LS-01", "LS-02"]
    assert any("blank rows" in n for n in table.notes)


def test_excel_error_values_become_none_with_a_note() -> None:
    table = _table([HEADER, ["LS-01", 1, "任务一", "推进中", "#DIV/0!", "进展", "#N/A", ""]])
    assert table is not None
    assert table.rows[0].values["progress"] is None
    assert table.rows[0].values["problems"] is None
    assert any("#DIV/0!" in n and "E2" in n for n in table.notes)


def test_error_note_names_the_sheet_cell_when_the_table_is_offset() -> None:
    rows = [["任务编码", "工作任务", "完成进度"], ["LS-01", "任务一", "#VALUE!"]]
    table = _table(rows, first_row=5, first_col=3)  # the grid starts at C5
    assert table is not None
    assert any("E6 #VALUE!" in n for n in table.notes)


def test_strings_are_stripped_and_types_kept() -> None:
    when = datetime(2026, 12, 1, 9, 30)
    table = _table(
        [["任务编码", "工作任务", "完成进度", "本期进展情况"], ["  LS-01\u3000", " 任务一 ", 0.5, when]]
    )
    assert table is not None
    assert table.rows[0].values == {"item_id": "LS-01", "title": "任务一", "progress": 0.5, "narrative": when}


def test_metadata_row_of_labels_is_not_a_header() -> None:
    rows = [
        ["填报单位：", "市大数据局", "联系人：", "李四", "联系电话：", "0578-1"],
        ["序号", "工作任务", "完成状态", "", "", ""],
        [1, "任务一", "推进中", "", "", ""],
    ]
    table = _table(rows)
    assert table is not None
    assert table.header_row == 2
    assert table.unit_hint == "市大数据局"


def test_no_header_found() -> None:
    assert find_header([["Name", "Age"], ["Ann", 3]]) is None
    assert find_header([["序号", "姓名"], [1, "张三"]]) is None  # one field is not a report
    assert _table([["a", "b"], [1, 2]]) is None


def test_header_must_be_near_the_top() -> None:
    filler = [["说明文字"]] * 30
    assert find_header([*filler, HEADER]) is None
    assert find_header([*filler[:20], HEADER]) is not None


@pytest.mark.parametrize(
    ("cells", "unit"),
    [
        (["填报单位：市发改委　　报送期间：2026Q4　　截止日期：2027-01-08"], "市发改委"),
        (["填报单位:市大数据局 填报日期:2026-12-31"], "市大数据局"),
        (["报送单位：市委办（市档案局）  联系人：张三"], "市委办（市档案局）"),
        (["填报单位（盖章）：莲都区人民政府"], "莲都区人民政府"),
        (["填报单位：", "", "市财政局"], "市财政局"),
        (["单位：万元"], None),
    ],
)
def test_unit_line(cells: list[object], unit: str | None) -> None:
    assert find_unit([cells]) == unit


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2026年第四季度", "2026Q4"),
        ("2026年四季度工作进展", "2026Q4"),
        ("2026年第4季度", "2026Q4"),
        ("2026Q4", "2026Q4"),
        ("2026-Q4", "2026Q4"),
        ("发改委_2026q3.xlsx", "2026Q3"),
        ("２０２６年第一季度", "2026Q1"),
        ("2026年10月", "2026M10"),
        ("2026-10", "2026M10"),
        ("2026M10", "2026M10"),
        ("报表2026年3月.xlsx", "2026M03"),
        ("截止日期：2027-01-08", None),
        ("2026年10月8日", None),
        ("市发改委.xlsx", None),
    ],
)
def test_normalize_period(text: str, period: str | None) -> None:
    assert normalize_period(text) == period


def test_period_from_title_then_file_name() -> None:
    rows = [["2026年第三季度进展报表"], HEADER, _row("LS-01", 1)]
    table = table_from_sheet(RawSheet("Sheet1", rows), source="f", file_name="发改委-2026Q4.xlsx")
    assert table is not None and table.period_hint == "2026Q3"
    table = table_from_sheet(
        RawSheet("Sheet1", [HEADER, _row("LS-01", 1)]), source="f", file_name="发改委-2026Q4.xlsx"
    )
    assert table is not None and table.period_hint == "2026Q4"


def test_template_period_wins_and_disagreement_is_noted() -> None:
    rows = [["2026年第三季度进展报表"], HEADER, _row("LS-01", 1)]
    table = table_from_sheet(
        RawSheet("填报表", rows), source="f", meta={"period": "2026Q4", "unit": "市发改委"}
    )
    assert table is not None
    assert table.period_hint == "2026Q4"
    assert table.meta == {"period": "2026Q4", "unit": "市发改委"}
    assert any("2026Q3" in n for n in table.notes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (46022, date(2025, 12, 31)),
        (46022.5, date(2025, 12, 31)),
        (datetime(2026, 1, 2, 8, 0), date(2026, 1, 2)),
        (date(2026, 1, 2), date(2026, 1, 2)),
        ("2026年12月31日", date(2026, 12, 31)),
        ("2026-12-31", date(2026, 12, 31)),
        ("2026/1/5", date(2026, 1, 5)),
        ("2026.01.05 10:00", date(2026, 1, 5)),
        ("20261231", date(2026, 12, 31)),
        ("2026年13月1日", None),
        ("下月底", None),
        (True, None),
    ],
)
def test_parse_date(value: object, expected: date | None) -> None:
    assert parse_date(value) == expected


def test_read_meta_turns_values_into_strings() -> None:
    rows = [
        ["duban_template", "1"],
        ["unit", "市发改委"],
        ["catalogue_version", 3.0],
        ["", "x"],
        ["plan", None],
    ]
    assert read_meta(rows) == {
        "duban_template": "1",
        "unit": "市发改委",
        "catalogue_version": "3",
        "plan": "",
    }


@pytest.mark.parametrize(
    ("rows", "period"),
    [
        ([["填报时间：", "", "2027年1月"]], None),
        ([["截止日期：2027-01 填报人：张三"]], None),
        ([["2026年第四季度进展表"], ["填报日期：2027年1月5日"]], "2026Q4"),
        ([["填报单位：市发改委　报送期间：2026年10月　填报时间：2026年11月"]], "2026M10"),
        ([["填报时间：", None, "2027年1月", "报告期：2026Q4"]], "2026Q4"),
    ],
)
def test_period_lines_ignore_filing_dates(rows: list[list[object]], period: str | None) -> None:
    assert period_in_rows(rows) == period
