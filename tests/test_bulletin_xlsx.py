"""The xlsx appendix's streamed rows: values, types, styles and escapes as xlsxwriter would write them.

Read back with openpyxl and, where LibreOffice is installed, through a LibreOffice round trip
(xlsx → CSV of every sheet), which also proves the file opens in an office suite.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from duban.bulletin import build_bulletin, compute_metrics, ledger_rows, render_xlsx
from duban.bulletin.sheetxml import _CHUNK, column_letter, column_widths, display_width
from duban.settings import RatingConfig
from tests.fixtures.bulletin.quarter import CST, quarter

IN_CI = os.environ.get("CI", "").lower() == "true"

#: Values a template cannot carry as they are, and what a reader must get back.
HOSTILE = {
    "任务编码": "=1+2",
    "序号": True,
    "工作任务": " leading space",
    "所属部分": "trailing newline\n",
    "所属章节": "a<b>&c\"d'",
    "责任单位": "-2+3",
    "单位全称": "@SUM(A1)",
    "角色": "tab\tinside",
    "完成状态": "_x0041_ literal",
    "完成进度(%)": float("nan"),
    "本期进展情况": "line one\nline two",
    "存在问题": "",
    "下步计划": Decimal("1.5"),
    "报送时间": datetime(2027, 1, 6, 10, 30, tzinfo=CST),
    "迟报(工作日)": float("inf"),
    "不合格数": 3,
    "连续无进展": False,
    "进度倒退": date(2027, 1, 8),
}


@pytest.fixture(scope="module")
def hostile_xlsx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    facts = quarter()
    b = build_bulletin(facts, compute_metrics(facts, RatingConfig()))
    rows = ledger_rows(facts)
    rows.append(dict(HOSTILE))
    rows.append({"任务编码": "short row", "新列": "control\x01char"})
    return render_xlsx(b, rows, tmp_path_factory.mktemp("x") / "a.xlsx"), rows


def test_hostile_values_keep_their_text_type_and_style(hostile_xlsx) -> None:
    path, rows = hostile_xlsx
    ws = openpyxl.load_workbook(path)["台账"]
    header = [c.value for c in ws[1]]
    assert header == [*HOSTILE, "新列"]
    cells = dict(zip(header, ws[len(rows)], strict=True))  # the hostile row
    for key in ("任务编码", "责任单位", "单位全称"):  # formula look-alikes: text, quote-prefixed
        assert cells[key].value == HOSTILE[key] and cells[key].data_type == "s" and cells[key].quotePrefix
    for key in ("工作任务", "所属部分", "所属章节", "角色", "本期进展情况"):  # exact, white space kept
        assert cells[key].value == HOSTILE[key] and not cells[key].quotePrefix
    assert cells["序号"].value == "是" and cells["连续无进展"].value == "否"
    assert cells["完成进度(%)"].value is None and cells["迟报(工作日)"].value is None  # NaN, inf: blank
    assert cells["存在问题"].value is None and cells["存在问题"].border.left.style == "thin"
    assert cells["下步计划"].value == "1.5"  # an unknown type is written as its text
    assert cells["报送时间"].value == datetime(2027, 1, 6, 10, 30)
    assert cells["报送时间"].number_format == "yyyy-mm-dd hh:mm"
    assert cells["进度倒退"].value == datetime(2027, 1, 8) and cells["进度倒退"].number_format == "yyyy-mm-dd"
    assert cells["不合格数"].value == 3 and cells["不合格数"].data_type == "n"
    short = dict(zip(header, (c.value for c in ws[len(rows) + 1]), strict=True))
    # openpyxl leaves an inline string's _xHHHH_ escape as it is; LibreOffice decodes it (below)
    assert short["任务编码"] == "short row" and short["新列"] in ("control\x01char", "control_x0001_char")
    assert short["工作任务"] is None
    assert ws.max_row == len(rows) + 1 and ws.auto_filter.ref == f"A1:S{len(rows) + 1}"
    assert ws.freeze_panes == "A2"


def test_ordinary_rows_read_back_as_written(hostile_xlsx) -> None:
    path, rows = hostile_xlsx
    ws = openpyxl.load_workbook(path)["台账"]
    header = [c.value for c in ws[1]]
    for row, cells in zip(rows[:-2], ws.iter_rows(min_row=2, values_only=True), strict=False):
        got = dict(zip(header, cells, strict=True))
        for key, want in row.items():
            if want in ("", None):
                assert got[key] is None, key
            elif isinstance(want, bool):
                assert got[key] == ("是" if want else "否")
            elif isinstance(want, datetime):
                assert got[key] == want.replace(tzinfo=None)
            else:
                assert got[key] == want, key


def test_rows_across_chunks_keep_their_order_and_numbers(tmp_path: Path) -> None:
    facts = quarter()
    b = build_bulletin(facts, compute_metrics(facts, RatingConfig()))
    n = 2 * _CHUNK + 7
    rows = [{"编号": i, "文字": f"第{i}行"} for i in range(n)]
    rows[_CHUNK + 5]["文字"] = "<需要转义> & 第二块"  # one careful row in the second chunk
    ws = openpyxl.load_workbook(render_xlsx(b, rows, tmp_path / "a.xlsx"), read_only=True)["台账"]
    got = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(got) == n
    assert [g[0] for g in got] == list(range(n))
    assert got[_CHUNK + 5][1] == "<需要转义> & 第二块" and got[-1][1] == f"第{n - 1}行"


def test_equal_instants_in_two_zones_keep_their_own_wall_clock(tmp_path: Path) -> None:
    facts = quarter()
    b = build_bulletin(facts, compute_metrics(facts, RatingConfig()))
    utc = datetime(2027, 1, 6, 2, 30, tzinfo=UTC)
    rows = [{"时间": utc.astimezone(CST)}, {"时间": utc}, {"时间": utc.replace(tzinfo=None)}]
    ws = openpyxl.load_workbook(render_xlsx(b, rows, tmp_path / "a.xlsx"))["台账"]
    got = [r[0] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert got == [datetime(2027, 1, 6, 10, 30), datetime(2027, 1, 6, 2, 30), datetime(2027, 1, 6, 2, 30)]


def test_unit_sheet_keeps_shares_as_numbers_and_the_total_bold(tmp_path: Path) -> None:
    facts = quarter()
    b = build_bulletin(facts, compute_metrics(facts, RatingConfig()))
    ws = openpyxl.load_workbook(render_xlsx(b, ledger_rows(facts), tmp_path / "a.xlsx"))["单位报送情况"]
    last = ws.max_row
    assert ws.cell(last, 2).value == "合计" and ws.cell(last, 2).font.b
    assert ws.cell(last, 9).number_format == "0.0%" and ws.cell(last, 9).font.b
    assert not ws.cell(2, 2).font.b and ws.cell(2, 10).value.startswith("★")


def test_column_widths_are_the_widest_shown_value_capped() -> None:
    rows = [("短", 1.5, None), ("一个很长的中文单位名称" * 10, 100, None), ("ab", 22.25, None)]
    assert column_widths(["名", "n", "空列"], rows) == [60, 5, display_width("空列")]
    assert column_widths(["name"], [("x",), ("  ",)]) == [4]
    many = [("短",)] * 99 + [("一个长名字",)]
    assert column_widths(["名"], many) == [10]
    assert column_widths(["名"], many, sample=10) == [2]  # above the sample: every tenth row seen
    assert [column_letter(c) for c in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def _need_soffice() -> None:
    if shutil.which("soffice"):
        return
    message = "soffice is not installed (apt-get install libreoffice-calc-nogui)"
    if IN_CI:
        pytest.fail(f"required under CI=true: {message}")
    pytest.skip(message)


@pytest.mark.soffice
@pytest.mark.slow
def test_libreoffice_reads_the_streamed_sheets(hostile_xlsx, tmp_path: Path) -> None:
    _need_soffice()
    path, rows = hostile_xlsx
    # every sheet to its own CSV (UTF-8, comma, double quotes; -1 = all sheets)
    fmt = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
    profile = (tmp_path / "profile").as_uri()
    cmd = ["soffice", f"-env:UserInstallation={profile}", "--headless", "--convert-to", fmt]
    subprocess.run([*cmd, "--outdir", str(tmp_path), str(path)], check=True, capture_output=True, timeout=120)
    with (tmp_path / "a-台账.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    header, body = table[0], table[1:]
    assert len(body) == len(rows)
    hostile = dict(zip(header, body[len(rows) - 2], strict=False))
    for key in (
        "任务编码",
        "工作任务",
        "所属部分",
        "所属章节",
        "责任单位",
        "单位全称",
        "角色",
        "本期进展情况",
    ):
        assert hostile[key] == HOSTILE[key], key
    assert hostile["完成状态"] == "_x0041_ literal"  # a literal look-alike is not decoded
    assert hostile["序号"] == "是" and hostile["完成进度(%)"] == "" and hostile["下步计划"] == "1.5"
    assert hostile["报送时间"].startswith("2027-01-06 10:30")
    short = dict(zip(header, body[len(rows) - 1], strict=True))
    assert short["新列"] == "control\x01char"
    units = (tmp_path / "a-单位报送情况.csv").read_text(encoding="utf-8")
    assert "合计" in units and "市甲局" in units
