"""Small files that once made calamine reserve gigabytes and kill the process: each is refused
by a check in ``limits`` before calamine sees it. The checks are called directly, so a missing
check fails an assertion instead of attempting the allocation."""

from __future__ import annotations

import io
import zipfile

import pytest

from connectors.spreadsheets import limits
from connectors.spreadsheets.sniff import zip_members
from duban.errors import SubmissionUnreadable

_ROWS = b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>1</v></c></row>'


def _sheet(rows: bytes = _ROWS) -> bytes:
    return (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + rows + b"</sheetData></worksheet>"
    )


def _book(parts: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in parts:
            if name in zf.namelist():
                with pytest.warns(UserWarning, match="Duplicate name"):
                    zf.writestr(name, body)
            else:
                zf.writestr(name, body)
    return buf.getvalue()


def _strings(unique: int, items: int = 3) -> bytes:
    return (
        b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="%d" uniqueCount="%d">' % (items, unique) + b"<si><t>x</t></si>" * items + b"</sst>"
    )


def _check_strings(strings: bytes) -> None:
    data = _book([("xl/workbook.xml", b"<workbook/>"), ("xl/sharedStrings.xml", strings)])
    limits.check_shared_strings(data, zip_members(data), "t.xlsx")


def test_a_shared_string_count_the_part_cannot_hold_is_refused() -> None:
    with pytest.raises(SubmissionUnreadable, match="shared-string"):
        _check_strings(_strings(4_294_967_295))
    padded = _strings(4_294_967_295).replace(b"<sst ", b"<sst " + b'a="b" ' * 2000)  # root past 4 KB
    with pytest.raises(SubmissionUnreadable, match="shared-string"):
        _check_strings(padded)


def test_plausible_shared_string_counts_pass() -> None:
    _check_strings(_strings(3))
    _check_strings(_strings(50_000))  # an overstated count calamine reserves for harmlessly
    many = 200_000
    _check_strings(_strings(many, many))  # a real table of many short strings
    _check_strings(_strings(3).replace(b' uniqueCount="3"', b""))


def test_a_total_count_alone_is_not_refused() -> None:
    """``count`` (references to strings) may far exceed the items and calamine ignores it."""
    _check_strings(_strings(3).replace(b'count="3"', b'count="4294967295"'))


@pytest.mark.parametrize(
    "far",
    [
        b'<c r="B4294967295"><v>1</v></c>',  # more than seven digits
        b'<c r="B99999999999999999999999"><v>1</v></c>',
        b'<c r="ZZ1048576"><v>1</v></c>',  # the old screen let this one through
        b'<c r="ZZ100000"><v>1</v></c>',
        b'<c r="AAAA50000"><v>1</v></c>',
        b"<c r='XFD1048576'><v>1</v></c>",  # single quotes
        b'<c r = "XFD1048576"><v>1</v></c>',  # spaces around =
        b'<c\nr="XFD1048576"><v>1</v></c>',
        b'<c r="xfd1048576"><v>1</v></c>',  # lowercase column
        b'<x:c r="XFD1048576"><v>1</v></x:c>',  # a prefixed cell
        b'<c r="C2" r="XFD1048576"><v>1</v></c>',  # a second reference
        b'<c r="C2" r="xfd1048576"><v>1</v></c>',
    ],
)
def test_far_cells_in_any_spelling_are_measured(far: bytes) -> None:
    rows = b'<row r="1"><c r="A1"><v>1</v></c></row><row r="2">' + far + b"</row>"
    rows_count, cols = limits.sheet_extent(_sheet(rows))
    assert rows_count * cols > limits.MAX_CELLS, far
    data = _book([("xl/workbook.xml", b"<workbook/>"), ("xl/worksheets/sheet1.xml", _sheet(rows))])
    with pytest.raises(SubmissionUnreadable, match="spans"):
        limits.check_sheet_extents(data, zip_members(data), "t.xlsx")


def test_cells_placed_one_after_another_widen_their_row() -> None:
    rows = b'<row r="9999">' + b"<c/>" * 300 + b"<c><v>1</v></c></row>"
    n_rows, cols = limits.sheet_extent(_sheet(rows))
    assert n_rows >= 9999 and cols >= 301


def test_ordinary_sheets_still_pass_the_screen() -> None:
    rows = b"".join(
        b'<row r="%d" spans="1:3"><c r="A%d" s="1" t="s"><v>0</v></c><c r="AB%d"><v>12345</v></c></row>'
        % (n, n, n)
        for n in range(1, 900)
    )
    assert limits.sheet_extent(_sheet(rows)) == (999, 702)
    assert limits.sheet_extent(_sheet(_ROWS)) == (999, 702)


def test_duplicate_part_names_are_refused() -> None:
    data = _book(
        [
            ("xl/workbook.xml", b"<workbook/>"),
            ("xl/worksheets/sheet1.xml", _sheet()),
            ("xl/worksheets/sheet1.xml", _sheet(b'<row r="1"><c r="XFD1048576"><v>1</v></c></row>')),
        ]
    )
    with pytest.raises(SubmissionUnreadable, match="same name"):
        limits.check_zip(zip_members(data), "t.xlsx", 200_000_000)
