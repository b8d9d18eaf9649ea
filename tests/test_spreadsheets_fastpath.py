"""The connector's fast paths give what the plain paths give.

``read_tables(data=...)`` reads the caller's bytes as it reads the file; the quick sheet
screen passes only sheets the finer screen passes; the body, header and meta shortcuts
return the same values, row numbers and notes as the general code.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import openpyxl
import pytest
import xlwt

import connectors.spreadsheets.limits as limits
from connectors.spreadsheets import read_tables
from connectors.spreadsheets.body import _table_end, read_body
from connectors.spreadsheets.headers import _LETTERLESS_NEVER_MATCH, match_header
from connectors.spreadsheets.hints import normalize_period
from connectors.spreadsheets.layout import find_header, read_meta
from duban.domain import SheetTable
from duban.errors import SubmissionUnreadable

HEADER = ["任务编码", "工作任务", "完成状态", "完成进度(%)", "本期进展情况", "存在问题", "联系电话"]


def _rows(n: int = 4) -> list[list[object]]:
    body: list[list[object]] = [
        [f"T{i}", f"任务{i}", "推进中", 10.0 * i, f"进展{i}", "", "0571-1234567"] for i in range(n)
    ]
    return [["2026年第四季度工作进展表"], ["填报单位：市发改委"], HEADER, *body]


def _xlsx(path: Path, rows: list[list[object]], meta: dict[str, object] | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "填报表"
    for row in rows:
        ws.append(row)
    if meta:
        hidden = wb.create_sheet("_duban")
        hidden.sheet_state = "hidden"
        for key, value in meta.items():
            hidden.append([key, value])
    wb.save(path)
    return path


def _xls_bytes(rows: list[list[object]]) -> bytes:
    wb = xlwt.Workbook()
    ws = wb.add_sheet("填报表")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _read(tables: list[SheetTable]) -> list[tuple[object, ...]]:
    return [
        (t.sheet, t.header_row, t.columns, t.rows, t.meta, t.unit_hint, t.period_hint, t.notes)
        for t in tables
    ]


def _same(a: list[SheetTable], b: list[SheetTable]) -> None:
    assert _read(a) == _read(b)


# --- read_tables(data=...) ---------------------------------------------------------------


def test_data_reads_like_the_file(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "报表.xlsx", _rows(), meta={"period": "2026Q4", "unit": "市发改委"})
    csv_path = tmp_path / "报表.csv"
    csv_path.write_bytes("\n".join(",".join(map(str, r)) for r in _rows()).encode("gbk"))
    for p in (path, csv_path):
        from_file = read_tables(p)
        from_data = read_tables(p, data=p.read_bytes())
        _same(from_file, from_data)
        assert from_data[0].source == str(p)
    # the path only names the file: it need not exist
    ghost = read_tables(tmp_path / "nowhere" / "报表.xlsx", data=path.read_bytes())
    _same(read_tables(path), ghost)


def test_data_over_the_limit_is_refused_with_the_files_reason(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * 11)
    with pytest.raises(SubmissionUnreadable) as by_file:
        read_tables(path, max_bytes=10)
    with pytest.raises(SubmissionUnreadable) as by_data:
        read_tables(path, max_bytes=10, data=path.read_bytes())
    assert by_data.value.reason_en == by_file.value.reason_en == "file is 11 bytes, over the limit of 10"
    assert by_data.value.reason_zh == by_file.value.reason_zh
    assert by_data.value.source == by_file.value.source == str(path)


def test_empty_data_is_refused_like_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    with pytest.raises(SubmissionUnreadable) as by_file:
        read_tables(path)
    with pytest.raises(SubmissionUnreadable) as by_data:
        read_tables(tmp_path / "other.xlsx", data=b"")
    assert by_data.value.reason_en == by_file.value.reason_en == "empty file (0 bytes)"


def test_a_damaged_looking_xls_is_fenced_on_the_given_bytes(tmp_path: Path, monkeypatch) -> None:
    data = bytearray(_xls_bytes(_rows()[2:]))
    at = data.find(b"\x00\x02\x0e\x00")
    struct.pack_into("<H", data, at + 4 + 12, 7)  # DIMENSIONS "reserved" field: implausible, not inverted
    assert limits.check_xls_extents(bytes(data), "x")
    path = tmp_path / "报表.xls"
    path.write_bytes(data)
    calls: list[object] = []
    run = limits.subprocess.run

    def counted(*args: object, **kw: object) -> object:
        calls.append(kw.get("input"))
        return run(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(limits.subprocess, "run", counted)
    from_file = read_tables(path)
    from_data = read_tables(tmp_path / "absent.xls", data=bytes(data))
    _same(from_file, from_data)
    assert calls == [bytes(data), bytes(data)]  # the child opened the bytes, not the (absent) path


# --- sheet screen ------------------------------------------------------------------------


def _finer_screen(xml: bytes) -> bool:
    """The screen as it stood before the quick pass: the quick pass may only agree with it."""
    shape = xml.translate(limits._SHAPE)
    if b'r="AAA0' in shape or b'A00000"' in shape or b'r="00000' in shape:
        return False
    if b'r="AA0' in shape and (b'A0000"' in shape or b'r="0000' in shape):
        return False
    return xml.count(b"<c ") + xml.count(b"<c>") <= shape.count(b' r="A')


def _sheet_xml(rng: random.Random) -> bytes:
    parts = [b'<worksheet><dimension ref="A1:M43"/>']
    if rng.random() < 0.3:
        parts.append(b'<cols><col min="1" max="2" width="12.7109375"/></cols>')
    parts.append(b"<sheetData>")
    for r in range(rng.randint(0, 6)):
        row = rng.choice([1, 2, 999, 1000, 9999, 10000, 65536, 1048576, r + 1])
        parts.append(b'<row r="%d">' % row if rng.random() < 0.9 else b"<row>")
        for _ in range(rng.randint(0, 4)):
            col = rng.choice([b"A", b"M", b"Z", b"AA", b"ZZ", b"AAA", b"XFD", b"AAAA"])
            ref_row = rng.choice([row, 1, 12345, 1048576, 4294967295])
            value = rng.choice([b"<v>1</v>", b"<v>12345</v>", b"<v>46000.5</v>", b"<is><t>x</t></is>", b""])
            style = rng.choice([b"", b' s="1"', b' t="s"'])
            kind = rng.random()
            if kind < 0.6:
                parts.append(b'<c r="%s%d"%s>%s</c>' % (col, ref_row, style, value))
            elif kind < 0.75:
                parts.append(b'<c%s r="%s%d">%s</c>' % (style, col, ref_row, value))
            elif kind < 0.85:
                parts.append(b"<c%s>%s</c>" % (style, value))
            elif kind < 0.95:
                parts.append(b'<c r="%s%d"%s/>' % (col, ref_row, style))
            else:
                parts.append(b"<![CDATA[<c >]]>")
        parts.append(b"</row>")
    parts.append(b"</sheetData></worksheet>")
    return b"".join(parts)


def test_the_quick_sheet_screen_never_passes_what_the_finer_screen_refuses() -> None:
    rng = random.Random(20240601)
    seen = {True: 0, False: 0}
    for _ in range(4000):
        xml = _sheet_xml(rng)
        assert limits._screened(xml) == _finer_screen(xml), xml
        seen[_finer_screen(xml)] += 1
    assert min(seen.values()) > 500  # both outcomes exercised


# --- body, header, meta ------------------------------------------------------------------


def test_footer_found_among_text_heads_and_mixed_heads() -> None:
    text_heads = [["T1", "a"], ["T2", "b"], ["合计", 3], ["T3", "c"]]
    assert _table_end(text_heads) == (2, True)
    assert _table_end([["T1", "a"], [" 注：仅供参考", ""], ["T2", "b"]]) == (1, True)
    assert _table_end([["T1", "a"], ["总体情况良好", "b"]]) == (2, False)  # starts like a footer, is not one
    mixed = [[1.0, "a"], [None, "填报人：张三"], ["T3", "c"]]
    assert _table_end(mixed) == (1, True)
    assert _table_end([]) == (0, False)


def test_body_row_numbers_and_error_cells_after_blank_rows() -> None:
    rows: list[list[object]] = [
        ["任务编码", "完成状态", "完成进度"],
        ["T1", " 推进中 ", 50.0],
        ["", "", None],  # blank in the report's columns: skipped
        ["  ", "\u3000", ""],  # whitespace only: skipped too
        ["T2", "#N/A", 0.0],
        ["T3", "", "#DIV/0!"],
    ]
    header = find_header(rows)
    assert header is not None
    body, notes = read_body(rows, header.columns, header.bottom + 1, 1, 1)
    assert [(r.row, r.values) for r in body] == [
        (2, {"item_id": "T1", "status": "推进中", "progress": 50.0}),
        (5, {"item_id": "T2", "status": None, "progress": 0.0}),
        (6, {"item_id": "T3", "status": None, "progress": None}),
    ]
    assert notes == ["Excel error values read as empty: B5 #N/A, C6 #DIV/0!"]


def test_every_column_taken_and_columns_picked_read_alike() -> None:
    rows: list[list[object]] = [["任务编码", "完成状态"], ["T1", "推进中"], ["T2", None]]
    wide = [[*r, "x"] for r in rows]  # an extra column no field names
    h1, h2 = find_header(rows), find_header(wide)
    assert h1 is not None and h2 is not None
    assert read_body(rows, h1.columns, 1, 1, 1) == read_body(wide, h2.columns, 1, 1, 1)


@pytest.mark.parametrize("text", ["0571-82061073", "2027-01-08", "12,345.00", "(1)", "# * %"])
def test_text_without_letters_names_no_field(text: str) -> None:
    assert _LETTERLESS_NEVER_MATCH
    assert match_header(text) is None


def test_read_meta_values_and_repeated_periods() -> None:
    rows: list[list[object]] = [
        ["unit", " 市发改委 "],
        ["catalogue_version", 3.0],
        ["ratio", 2.5],
        ["blank", None],
        ["  ", "ignored"],
        [None, "ignored"],
        [7, "seven"],
        ["alone"],
    ]
    assert read_meta(rows) == {
        "unit": "市发改委",
        "catalogue_version": "3",
        "ratio": "2.5",
        "blank": "",
        "7": "seven",
    }
    assert normalize_period("2026年第四季度") == normalize_period("2026年第四季度") == "2026Q4"
    assert normalize_period("2026-10") == "2026M10"
    assert normalize_period("") is None
