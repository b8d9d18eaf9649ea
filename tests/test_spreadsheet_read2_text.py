"""CSV rows as the csv module gives them, the refusal of a text table past its limits (naming
the very row that crossed them) and the malformed-CSV error in file order; a workbook's visible,
hidden and metadata sheets."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest

from connectors.spreadsheets import read_tables
from connectors.spreadsheets.text import MAX_TEXT_CELLS, MAX_TEXT_ROWS, read_delimited
from duban.errors import SubmissionUnreadable

HEADER = "任务编码,工作任务,完成状态,本期进展情况\r\n"


def _row_by_row(text: str, sep: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=False))


CHUNK = 1024  # sizes around a power of two, where a reader taking rows in blocks would split


@pytest.mark.parametrize("count", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_rows_match_the_csv_module_around_chunk_boundaries(count: int) -> None:
    text = HEADER + "".join(f'T{i},任务{i},推进中,"进展,{i}"\r\n' for i in range(count))
    sheet, encoding, kind = read_delimited(text.encode("utf-8"), source="x.csv")
    assert sheet.rows == _row_by_row(text)
    assert (encoding, kind) == ("UTF-8", "csv")


def test_too_many_rows_refused_at_the_row_past_the_limit() -> None:
    data = b"a\n" * (MAX_TEXT_ROWS + 5)
    with pytest.raises(SubmissionUnreadable) as exc:
        read_delimited(data, source="x.csv")
    assert f"(at {MAX_TEXT_ROWS + 1:,} rows, {MAX_TEXT_ROWS + 1:,} cells)" in exc.value.reason_en


def test_exactly_the_row_limit_is_read() -> None:
    sheet, _, _ = read_delimited(b"a\n" * MAX_TEXT_ROWS, source="x.csv")
    assert len(sheet.rows) == MAX_TEXT_ROWS


def test_too_many_cells_refused_at_the_row_that_crossed() -> None:
    width = 1_001  # 1,998 rows hold 1,999,998 cells: the 1,999th crosses 2,000,000
    data = ("," * (width - 1) + "\n").encode() * 2_500
    with pytest.raises(SubmissionUnreadable) as exc:
        read_delimited(data, source="x.csv")
    rows = MAX_TEXT_CELLS // width + 1
    assert f"(at {rows:,} rows, {rows * width:,} cells)" in exc.value.reason_en


def test_malformed_csv_reported_whichever_chunk_it_is_in() -> None:
    huge = '"' + "x" * (csv.field_size_limit() + 10) + '"'
    for before in (0, 5, CHUNK + 3):
        text = HEADER + "a,b,c,d\n" * before + huge + "\n" + "a,b,c,d\n" * 10
        with pytest.raises(SubmissionUnreadable) as exc:
            read_delimited(text.encode(), source="x.csv")
        assert exc.value.reason_en.startswith("malformed CSV: field larger than field limit")


def test_limit_crossed_before_a_malformed_row_in_the_same_chunk_is_the_refusal() -> None:
    huge = '"' + "x" * (csv.field_size_limit() + 10) + '"'
    width = 5_000  # the 401st row crosses 2,000,000 cells; the malformed field comes after it
    text = ("," * (width - 1) + "\n") * 405 + huge + "\n"
    with pytest.raises(SubmissionUnreadable) as exc:
        read_delimited(text.encode(), source="x.csv")
    assert f"(at 401 rows, {401 * width:,} cells)" in exc.value.reason_en


def test_malformed_row_before_the_limit_is_the_error() -> None:
    huge = '"' + "x" * (csv.field_size_limit() + 10) + '"'
    text = "a\n" * 10 + huge + "\n" + "a\n" * (MAX_TEXT_ROWS + 10)
    with pytest.raises(SubmissionUnreadable) as exc:
        read_delimited(text.encode(), source="x.csv")
    assert exc.value.reason_en.startswith("malformed CSV")


def test_csv_file_read_as_a_table(tmp_path: Path) -> None:
    path = tmp_path / "进展.csv"
    rows = "".join(f"T{i},任务{i},推进中,进展{i}\r\n" for i in range(2_500))
    path.write_bytes((HEADER + rows).encode("utf-8-sig"))
    (table,) = read_tables(path)
    assert len(table.rows) == 2_500
    assert table.rows[-1].row == 2_501
    assert table.rows[-1].values["item_id"] == "T2499"


def _workbook(tmp_path: Path, sheets: list[tuple[str, str]], meta: bool) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, state in sheets:
        ws = wb.create_sheet(name)
        ws.append(["任务编码", "工作任务", "完成状态", "本期进展情况"])
        ws.append([f"{name}-1", "任务", "推进中", "进展"])
        ws.sheet_state = state
    if meta:
        ws = wb.create_sheet("_duban")
        ws.append(["period", "2026Q4"])
        ws.append(["unit", "市发改委"])
        ws.sheet_state = "hidden"
    path = tmp_path / "book.xlsx"
    wb.save(path)
    return path


def test_visible_sheets_read_in_order_with_the_template_metadata(tmp_path: Path) -> None:
    path = _workbook(tmp_path, [("甲", "visible"), ("乙", "hidden"), ("丙", "visible")], meta=True)
    tables = read_tables(path)
    assert [t.sheet for t in tables] == ["甲", "丙"]
    assert all(t.meta == {"period": "2026Q4", "unit": "市发改委"} for t in tables)
    assert tables[0].period_hint == "2026Q4"


def test_hidden_sheet_used_only_when_no_visible_one_holds_a_table(tmp_path: Path) -> None:
    path = _workbook(tmp_path, [("空白", "visible"), ("乙", "hidden")], meta=False)
    wb = openpyxl.load_workbook(path)
    wb["空白"].delete_rows(1, 2)
    wb.save(path)
    (table,) = read_tables(path)
    assert table.sheet == "乙"
    assert table.meta == {}
    assert table.notes[0] == "used hidden sheet 乙 because it holds the data"
