"""Reading real files: the template contract, every format and encoding, and bad input.

Fixtures are written here with openpyxl, the csv module and LibreOffice (for .xls/.ods),
in tmp_path; nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from connectors.spreadsheets import parse_date, read_tables, sniff_format
from duban.domain import FIELDS
from duban.errors import SubmissionUnreadable

TEMPLATE_HEADER = [
    "任务编码", "序号", "工作任务", "角色", "牵头单位", "完成状态", "完成进度(%)",
    "本期进展情况", "存在问题", "下步计划", "需协调事项", "填报人", "联系电话",
]  # fmt: skip
TEMPLATE_META = {
    "duban_template": "1",
    "unit": "市发改委",
    "unit_name": "丽水市发展和改革委员会",
    "period": "2026Q4",
    "catalogue_version": "3",
    "template_version": "1",
    "plan": "丽政发〔2022〕29号",
}


def _data_row(i: int) -> list[object]:
    return [
        f"LS-{i:02d}", i, f"第{i}项重点任务", "牵头", "市发改委", "推进中", 50 + i,
        f"本季度完成第{i}项工作", "资金不足" if i % 2 else None, "继续推进", None, "张三", "0578-2123456",
    ]  # fmt: skip


def write_template(path: Path, rows: int = 3, *, meta: dict[str, str] | None = None) -> Path:
    """A workbook as the template contract describes it: 填报表 plus a hidden _duban sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.title = "填报表"
    ws.append(["丽水市深化数字政府建设实施方案 2026年第四季度工作进展报表"])
    ws.merge_cells("A1:M1")
    ws.append(["填报单位：市发改委　　报送期间：2026Q4　　截止日期：2027-01-08"])
    ws.merge_cells("A2:M2")
    ws.append(TEMPLATE_HEADER)
    for i in range(1, rows + 1):
        ws.append(_data_row(i))
    hidden = wb.create_sheet("_duban")
    hidden.sheet_state = "hidden"
    for key, value in (meta or TEMPLATE_META).items():
        hidden.append([key, value])
    wb.save(path)
    return path


def _xlsx(path: Path, sheets: dict[str, list[list[object]]], hidden: tuple[str, ...] = ()) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def _reject(path: Path, **kw: int) -> SubmissionUnreadable:
    with pytest.raises(SubmissionUnreadable) as info:
        read_tables(path, **kw)
    err = info.value
    assert err.source == str(path)
    assert err.reason_en and err.reason_zh
    return err


# --- the template contract ---------------------------------------------------------------


def test_template_contract_read_back_exactly(tmp_path: Path) -> None:
    path = write_template(tmp_path / "市发改委.xlsx", rows=3)
    [table] = read_tables(path)
    assert table.source == str(path)
    assert table.sheet == "填报表"
    assert table.meta == TEMPLATE_META
    assert table.header_row == 3
    expected_columns = {f: h for f, h in FIELDS.items() if f != "unit"}
    assert table.columns == expected_columns
    assert [r.row for r in table.rows] == [4, 5, 6]
    first = table.rows[0].values
    assert first["item_id"] == "LS-01"
    assert first["number"] == 1
    assert first["progress"] == 51
    assert first["problems"] == "资金不足"
    assert table.rows[1].values["problems"] is None
    assert first["phone"] == "0578-2123456"
    assert table.unit_hint == "市发改委"
    assert table.period_hint == "2026Q4"
    assert not any("hidden" in n for n in table.notes)


def test_template_meta_period_beats_file_name(tmp_path: Path) -> None:
    path = write_template(tmp_path / "发改委-2026Q3.xlsx", meta={**TEMPLATE_META, "period": "2026Q4"})
    [table] = read_tables(path)
    assert table.period_hint == "2026Q4"


# --- layouts in real workbooks ------------------------------------------------------------


def test_title_and_unit_line_above_header(tmp_path: Path) -> None:
    rows = [
        ["2026年第四季度数字政府建设任务进展情况表"],
        ["填报单位:市大数据局", None, None, "填报日期：2027-01-05"],
        [],
        ["序号", "工作任务", "完成状态", "进展情况"],
        [1, "建设一体化平台", "已完成", "上线运行"],
    ]
    [table] = read_tables(_xlsx(tmp_path / "report.xlsx", {"Sheet1": rows}))
    assert table.header_row == 4
    assert table.unit_hint == "市大数据局"
    assert table.period_hint == "2026Q4"
    assert table.rows[0].row == 5
    assert table.rows[0].values == {
        "number": 1,
        "title": "建设一体化平台",
        "status": "已完成",
        "narrative": "上线运行",
    }


def test_two_row_merged_header(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.append(["任务编码", "工作任务", "完成情况", None, "存在问题"])
    ws.append([None, None, "完成状态", "完成进度（%）", None])
    ws.append(["LS-01", "任务一", "推进中", 30, "无"])
    for rng in ("A1:A2", "B1:B2", "C1:D1", "E1:E2"):
        ws.merge_cells(rng)
    wb.save(tmp_path / "two-row.xlsx")
    [table] = read_tables(tmp_path / "two-row.xlsx")
    assert table.columns == {
        "item_id": "任务编码",
        "title": "工作任务",
        "status": "完成状态",
        "progress": "完成进度（%）",
        "problems": "存在问题",
    }
    assert [r.row for r in table.rows] == [3]
    assert table.rows[0].values == {
        "item_id": "LS-01",
        "title": "任务一",
        "status": "推进中",
        "progress": 30,
        "problems": "无",
    }


def test_renamed_progress_column(tmp_path: Path) -> None:
    rows = [
        ["任务编号", "重点任务", "状态", "工作进展", "困难和问题", "下一步工作打算"],
        ["LS-07", "任务七", "滞后", "已招标", "工期紧", "加快建设"],
    ]
    [table] = read_tables(_xlsx(tmp_path / "renamed.xlsx", {"进展": rows}))
    assert table.columns["narrative"] == "工作进展"
    assert table.rows[0].values["narrative"] == "已招标"
    assert table.rows[0].values["next_steps"] == "加快建设"


def test_hidden_sheet_used_when_it_holds_the_data(tmp_path: Path) -> None:
    sheets = {
        "说明": [["请在隐藏表中填写"]],
        "数据": [["任务编码", "工作任务", "完成状态"], ["LS-01", "任务一", "已完成"]],
    }
    [table] = read_tables(_xlsx(tmp_path / "hidden.xlsx", sheets, hidden=("数据",)))
    assert table.sheet == "数据"
    assert table.rows[0].values["status"] == "已完成"
    assert any("hidden sheet 数据" in n for n in table.notes)


def test_hidden_sheet_ignored_when_a_visible_sheet_holds_the_data(tmp_path: Path) -> None:
    header = ["任务编码", "工作任务", "完成状态"]
    sheets = {"旧数据": [header, ["LS-09", "旧", "推进中"]], "填报表": [header, ["LS-01", "新", "已完成"]]}
    tables = read_tables(_xlsx(tmp_path / "both.xlsx", sheets, hidden=("旧数据",)))
    assert [t.sheet for t in tables] == ["填报表"]
    assert tables[0].rows[0].values["item_id"] == "LS-01"


def test_dates_as_serials_and_chinese_text(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.append(["任务编码", "工作任务", "本期进展情况", "下步计划"])
    ws.append(["LS-01", "任务一", 46022, "2026年12月31日前完成"])
    ws.append(["LS-02", "任务二", datetime(2026, 11, 30, 15, 0), "2027年1月"])
    ws.append(["LS-03", "任务三", "2026年12月31日", None])
    ws["C2"].number_format = "yyyy-mm-dd"  # a serial shown as a date
    ws["C3"].number_format = 'yyyy"年"m"月"d"日"'
    wb.save(tmp_path / "dates.xlsx")
    [table] = read_tables(tmp_path / "dates.xlsx")
    serial, stamp, text = (r.values["narrative"] for r in table.rows)
    assert isinstance(serial, date)
    assert parse_date(serial) == date(2025, 12, 31)
    assert isinstance(stamp, datetime)
    assert parse_date(stamp) == date(2026, 11, 30)
    assert text == "2026年12月31日"
    assert parse_date(text) == date(2026, 12, 31)


def test_workbook_without_data_returns_nothing(tmp_path: Path) -> None:
    assert read_tables(_xlsx(tmp_path / "blank.xlsx", {"Sheet1": []})) == []


def test_workbook_with_data_but_no_report_table(tmp_path: Path) -> None:
    err = _reject(_xlsx(tmp_path / "other.xlsx", {"Sheet1": [["姓名", "年龄"], ["张三", 30]]}))
    assert "no report table found" in err.reason_en
    assert "未找到报表表头" in err.reason_zh


# --- text formats --------------------------------------------------------------------------

CSV_TEXT = (
    "任务编码,工作任务,完成状态,本期进展情况\n"
    "LS-01,建设㐀平台,推进中,已完成招标 \n"
    "LS-02,数据共享,已完成,#N/A\n"
)


@pytest.mark.parametrize(
    ("encoding", "text", "note"),
    [
        ("utf-8-sig", CSV_TEXT, None),
        ("utf-8", CSV_TEXT, None),
        ("gbk", CSV_TEXT.replace("㐀", ""), "GBK"),
        ("gb18030", CSV_TEXT, "GB18030"),  # 㐀 (U+3400) is outside GBK
    ],
)
def test_csv_encodings(tmp_path: Path, encoding: str, text: str, note: str | None) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(text.encode(encoding))
    if encoding == "gb18030":
        with pytest.raises(UnicodeEncodeError):
            text.encode("gbk")
    [table] = read_tables(path)
    assert table.sheet is None
    assert table.header_row == 1
    assert table.rows[0].values["title"] == text.splitlines()[1].split(",")[1]
    assert table.rows[0].values["narrative"] == "已完成招标"
    assert table.rows[1].values["narrative"] is None  # #N/A
    assert any("#N/A" in n for n in table.notes)
    if note:
        assert any(n == f"text decoded as {note}" for n in table.notes)
    else:
        assert not any("decoded" in n for n in table.notes)


def test_utf16_tab_separated_text(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes(CSV_TEXT.replace(",", "\t").encode("utf-16"))
    assert sniff_format(path) == "tsv"
    [table] = read_tables(path)
    assert table.rows[1].values["status"] == "已完成"


def test_tsv(tmp_path: Path) -> None:
    path = tmp_path / "report.tsv"
    path.write_text(
        "填报单位：市财政局\n任务编码\t工作任务\t完成进度\nLS-03\t预算一体化\t80%\n", encoding="utf-8"
    )
    assert sniff_format(path) == "tsv"
    [table] = read_tables(path)
    assert table.header_row == 2
    assert table.unit_hint == "市财政局"
    assert table.rows[0].values == {"item_id": "LS-03", "title": "预算一体化", "progress": "80%"}


def test_csv_with_quoted_newlines_and_cr_only_lines(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes('任务编码,工作任务,本期进展情况\r"LS-01","任务一","第一行\r\n第二行"\r'.encode())
    [table] = read_tables(path)
    assert table.rows[0].values["narrative"] == "第一行\r\n第二行"


def test_html_saved_as_xls(tmp_path: Path) -> None:
    html = (
        '<html><head><meta charset="gbk"></head><body><table>'
        "<tr><td colspan=3>2026年第四季度进展</td></tr>"
        "<tr><th>任务编码</th><th>工作任务</th><th>完成状态</th></tr>"
        "<tr><td>LS-01</td><td>任务&amp;一</td><td>推进中</td></tr></table></body></html>"
    )
    path = tmp_path / "export.xls"
    path.write_bytes(html.encode("gbk"))
    assert sniff_format(path) == "html"
    [table] = read_tables(path)
    assert table.period_hint == "2026Q4"
    assert table.rows[0].values == {"item_id": "LS-01", "title": "任务&一", "status": "推进中"}


def test_blank_csv_returns_nothing(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n , \n", encoding="utf-8")
    assert read_tables(path) == []


# --- format sniffing by content -----------------------------------------------------------


def test_sniff_by_content_not_extension(tmp_path: Path) -> None:
    real = write_template(tmp_path / "t.xlsx")
    for name in ("t.xls", "t.csv", "t.et"):
        shutil.copy(real, tmp_path / name)
        assert sniff_format(tmp_path / name) == "xlsx"
        [table] = read_tables(tmp_path / name)
        assert table.meta == TEMPLATE_META
    (tmp_path / "doc.xlsx").write_bytes(b"%PDF-1.7\n...")
    assert sniff_format(tmp_path / "doc.xlsx") == "pdf"


# --- LibreOffice round trips: .xls and .ods -----------------------------------------------


def _convert(fmt: str, out: Path, src: Path) -> list[str]:
    return ["--convert-to", fmt, "--outdir", str(out), str(src)]


@pytest.fixture(scope="session")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The template converted by LibreOffice to .xls (BIFF8) and .ods, once per session."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("LibreOffice (soffice) is required under CI=true")
        pytest.skip("LibreOffice (soffice) is not installed")
    base = tmp_path_factory.mktemp("soffice")
    src = write_template(base / "市发改委-2026Q4.xlsx", rows=4)
    out = base / "out"
    jobs = {  # one soffice per format, side by side, each with its own profile
        fmt: subprocess.Popen(
            [exe, f"-env:UserInstallation=file://{base / fmt}", "--headless", *_convert(fmt, out, src)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for fmt in ("xls", "ods")
    }
    for fmt, job in jobs.items():
        output, _ = job.communicate(timeout=180)
        assert job.returncode == 0, f"soffice --convert-to {fmt} failed: {output.decode(errors='replace')}"
    return {fmt: out / f"市发改委-2026Q4.{fmt}" for fmt in jobs}


@pytest.mark.soffice
@pytest.mark.parametrize("fmt", ["xls", "ods"])
def test_libreoffice_formats(converted: dict[str, Path], fmt: str) -> None:
    path = converted[fmt]
    assert sniff_format(path) == fmt
    tables = read_tables(path)
    assert [t.sheet for t in tables] == ["填报表"]
    [table] = tables
    assert table.meta == TEMPLATE_META
    assert table.header_row == 3
    assert [r.values["item_id"] for r in table.rows] == ["LS-01", "LS-02", "LS-03", "LS-04"]
    assert table.rows[0].values["progress"] == 51
    assert table.rows[0].values["narrative"] == "本季度完成第1项工作"
    assert table.unit_hint == "市发改委"
    assert table.period_hint == "2026Q4"


# --- bad input ------------------------------------------------------------------------------


def test_password_protected_workbook(tmp_path: Path) -> None:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = write_template(tmp_path / "plain.xlsx")
    locked = tmp_path / "locked.xlsx"
    with plain.open("rb") as src, locked.open("wb") as dst:
        OOXMLFile(src).encrypt("secret", dst)
    assert sniff_format(locked) == "encrypted"
    err = _reject(locked)
    assert "password" in err.reason_en
    assert "密码" in err.reason_zh


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    path.touch()
    assert "empty" in _reject(path).reason_en


def test_file_over_size_limit(tmp_path: Path) -> None:
    path = write_template(tmp_path / "big.xlsx", rows=50)
    err = _reject(path, max_bytes=1000)
    assert "over the limit of 1,000" in err.reason_en
    assert read_tables(path)  # the same file under the default limit is fine


def _bomb(path: Path, megabytes: int, level: int) -> Path:
    chunk = b"0" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as fh:
            for _ in range(megabytes):
                fh.write(chunk)
    return path


def test_zip_bomb_refused_from_declared_sizes(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bomb.xlsx", 300, level=1)
    assert path.stat().st_size < 20_000_000
    err = _reject(path)
    assert "possible zip bomb" in err.reason_en
    assert "314,572,819" in err.reason_en  # declared sizes (300 MiB + 19 bytes), from the zip directory


def test_zip_bomb_refused_by_compression_ratio(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "ratio.xlsx", 12, level=9)
    err = _reject(path)
    assert "inflates" in err.reason_en and "zip bomb" in err.reason_en


def test_random_bytes_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "noise.csv"
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(4096)))
    err = _reject(path)
    assert "not a" in err.reason_en
    assert "binary" in err.reason_en or "text" in err.reason_en


def test_truncated_workbook(tmp_path: Path) -> None:
    data = write_template(tmp_path / "ok.xlsx").read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(data[: len(data) // 2])
    err = _reject(path)
    assert "损坏" in err.reason_zh or "无法读取" in err.reason_zh


def test_pdf_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    path.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    err = _reject(path)
    assert "not a spreadsheet" in err.reason_en
    assert "PDF" in err.reason_zh


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot open" in _reject(tmp_path / "nope.xlsx").reason_en


def test_table_away_from_a1_keeps_sheet_row_numbers(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws["C3"] = "填报单位：市卫健委"
    for col, heading in zip("CDEF", ["任务编码", "工作任务", "本期进展情况", "完成进度"], strict=True):
        ws[f"{col}5"] = heading
    ws["C6"], ws["D6"], ws["E6"], ws["F6"] = "LS-05", "任务五", "进展甲", "#N/A"
    ws["C7"], ws["E7"], ws["F7"] = "LS-06", "进展乙", 20
    ws["D6"].value = "共同任务"
    ws.merge_cells("D6:D7")
    wb.save(tmp_path / "offset.xlsx")
    [table] = read_tables(tmp_path / "offset.xlsx")
    assert table.header_row == 5
    assert table.unit_hint == "市卫健委"
    assert [(r.row, r.values["title"], r.values["progress"]) for r in table.rows] == [
        (6, "共同任务", None),
        (7, "共同任务", 20),
    ]
    # openpyxl stores "#N/A" as a real error cell; calamine hands error cells over as empty
    # (python-calamine issue #105), so it arrives as None like a blank cell.


def test_tab_separated_text_with_commas_in_prose(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "任务编码\t工作任务\t本期进展情况\n"
        "LS-01\t任务一\t完成调研, 形成方案, 报批, 招标, 开工\n"
        "LS-02\t任务二\t推进中\n",
        encoding="utf-8",
    )
    assert sniff_format(path) == "tsv"
    [table] = read_tables(path)
    assert table.rows[0].values["narrative"] == "完成调研, 形成方案, 报批, 招标, 开工"


def test_html_page_without_a_table(tmp_path: Path) -> None:
    path = tmp_path / "page.xls"
    path.write_text("<html><body><p>登录超时，请重新登录</p></body></html>", encoding="utf-8")
    assert "HTML page without a table" in _reject(path).reason_en


# --- small files that ask for a lot ---------------------------------------------------------

_SML = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"


def _raw_xlsx(path: Path, sheet_data: str) -> Path:
    """A minimal hand-made .xlsx whose sheet holds ``sheet_data`` (inline strings)."""
    ct = (
        f'<Types xmlns="{_PKG}/content-types"><Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/></Types>'
    )
    rels = f'<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'  # noqa: E501
    wb = f'<workbook xmlns="{_SML}" xmlns:r="{_REL}"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'  # noqa: E501
    wb_rels = f'<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'  # noqa: E501
    sheet = f'<worksheet xmlns="{_SML}"><sheetData>{sheet_data}</sheetData></worksheet>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (
            ("[Content_Types].xml", ct),
            ("_rels/.rels", rels),
            ("xl/workbook.xml", wb),
            ("xl/_rels/workbook.xml.rels", wb_rels),
            ("xl/worksheets/sheet1.xml", sheet),
        ):
            zf.writestr(name, text)
    return path


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_two_far_cells_are_refused_before_calamine_builds_the_range(tmp_path: Path) -> None:
    # A1 and XFD1048576: 17 billion cells in calamine's dense range — the process would abort.
    row1 = f'<row r="1">{_cell("A1", "任务编码")}{_cell("B1", "完成状态")}</row>'
    far = f'<row r="1048576">{_cell("XFD1048576", "x")}</row>'
    err = _reject(_raw_xlsx(tmp_path / "range.xlsx", row1 + far))
    assert "1,048,576 rows × 16,384 columns" in err.reason_en


def test_a_long_but_narrow_sheet_is_still_read(tmp_path: Path) -> None:
    rows = f'<row r="1">{_cell("A1", "任务编码")}{_cell("B1", "完成状态")}</row>'
    rows += f'<row r="2">{_cell("A2", "LS-01")}{_cell("B2", "推进中")}</row>'
    rows += f'<row r="15000">{_cell("AB15000", "备注")}</row>'  # far, but 15,000 × 28 cells
    [table] = read_tables(_raw_xlsx(tmp_path / "narrow.xlsx", rows))
    assert table.rows[0].values == {"item_id": "LS-01", "status": "推进中"}


def test_an_xls_declaring_the_whole_sheet_is_refused(tmp_path: Path) -> None:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("S")
    ws.write(0, 0, "任务编码")
    ws.write(0, 1, "完成状态")
    ws.write(65535, 255, "x")  # 65,536 × 256 cells: ~1.2 GB in calamine
    wb.save(str(tmp_path / "far.xls"))
    err = _reject(tmp_path / "far.xls")
    assert "65,536 rows × 256 columns" in err.reason_en


def test_an_ods_with_a_huge_manifest_is_refused_without_inflating_it(tmp_path: Path) -> None:
    path = tmp_path / "manifest.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED
        )
        with zf.open("META-INF/manifest.xml", "w", force_zip64=True) as fh:
            for _ in range(12):
                fh.write(b" " * (1 << 20))
        zf.writestr("content.xml", "<x/>")
    assert sniff_format(path) == "ods"
    assert "zip bomb" in _reject(path).reason_en


def test_html_colspan_multiplier_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "spans.xls"
    head = "<tr><td>任务编码</td><td>完成状态</td></tr><tr><td>LS-01</td><td>推进中</td></tr>"
    path.write_text(f"<html><table>{head}<tr>{'<td colspan=999>x</td>' * 30_000}</tr></table></html>")
    err = _reject(path)
    assert "too large" in err.reason_en  # 30,000 cells × 100 (the colspan cap) > 2,000,000


def test_csv_of_line_breaks_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_bytes("任务编码,完成状态\n".encode() + b"\n" * 250_000)
    assert "200,000 rows" in _reject(path).reason_en
