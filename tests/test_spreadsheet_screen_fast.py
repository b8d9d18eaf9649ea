"""The cheap .xlsx screen gives the verdicts the fuller one gave.

``_plain_cells`` settles a sheet whose every cell tag is written as spreadsheet programs write
it; every other sheet goes on to the shape screens and the exact measurement (``_extent``).
These tests hold the plain-cell test to its claim (a sheet it passes is within ``MAX_CELLS`` by
the measurement too), check that each odd spelling is left to the measurement, and that the
shared-string glance and the one-pass zip checks refuse what the longer reads refused.
"""

from __future__ import annotations

import io
import random
import zipfile
import zlib

import pytest

from connectors.spreadsheets import limits
from connectors.spreadsheets.sniff import member_bytes, member_data, zip_members
from duban.errors import SubmissionUnreadable

_NS = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def _sheet(rows: bytes) -> bytes:
    return b'<?xml version="1.0"?>\n' + _NS + b"<sheetData>" + rows + b"</sheetData></worksheet>"


def _book(parts: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in parts:
            zf.writestr(name, body)
    return buf.getvalue()


def _within(xml: bytes) -> bool:
    rows, cols = limits._extent(xml)
    return rows * cols <= limits.MAX_CELLS


@pytest.mark.parametrize(
    "cell",
    [
        b'<c r="A1"><v>1</v></c>',
        b'<c r="ZZ999" t="s"><v>0</v></c>',
        b'<c r="B7" s="12"/>',
        b'<c r="C3" s="1" t="s"><v>4</v></c>',
        b'<c r="D4" t="str"><f>A1&amp;"x"</f><v>x</v></c>',
        b'<c r="E5" t="inlineStr"><is><t>r="XFD1048576"</t></is></c>',
        b'<c r="F6" t="s"/>',
    ],
)
def test_cells_written_plainly_settle_the_sheet(cell: bytes) -> None:
    xml = _sheet(b'<row r="1" spans="1:3" ht="20.100000000000001" customHeight="1">' + cell + b"</row>")
    assert limits._plain_cells(xml)
    assert limits.sheet_extent(xml) == (999, 702)
    assert _within(xml)


@pytest.mark.parametrize(
    "cell",
    [
        b'<c r="A1000"><v>1</v></c>',  # past row 999: the shape screens decide
        b'<c r="AAA1"><v>1</v></c>',
        b'<c r="xfd1"><v>1</v></c>',
        b"<c r='A1'><v>1</v></c>",
        b'<c r = "A1"><v>1</v></c>',
        b'<c\nr="A1"><v>1</v></c>',
        b'<c  r="A1"><v>1</v></c>',
        b'<c t="s" r="A1"><v>1</v></c>',
        b'<c r="A1" r="XFD1048576"><v>1</v></c>',
        b'<c r="A1" t="s"r="XFD1"><v>1</v></c>',
        b'<c r="A1" x:r="XFD1"><v>1</v></c>',
        b'<c r="A1" abc r="XFD1"><v>1</v></c>',
        b'<c r="A1" cm="1"><v>1</v></c>',
        b'<c r="A1" s="1" r="B2"/>',
        b'<x:c r="A1"><v>1</v></x:c>',
        b"<c><v>1</v></c>",
        b"<c/>",
        b'<c t="s"><v>1</v></c>',
        b'<c r="A1"',  # cut short
    ],
)
def test_any_other_cell_spelling_is_left_to_the_measurement(cell: bytes) -> None:
    xml = _sheet(b'<row r="1">' + cell + b"</row>")
    assert not limits._plain_cells(xml)
    assert limits.sheet_extent(xml) == limits._extent(xml)


def test_cell_tags_outside_sheet_data_count_too() -> None:
    for extra in (b'<!-- <c r="XFD1048576"> -->', b'<x:c r="XFD1048576"/>', b"<c>"):
        rows = b'<row r="1"><c r="A1"><v>1</v></c></row>'
        xml = _sheet(rows).replace(b"</worksheet>", extra + b"</worksheet>")
        assert not limits._plain_cells(xml), extra
    other = _sheet(b"").replace(b"<sheetData>", b'<cols><col min="1" max="3"/></cols><sheetData>')
    assert limits._plain_cells(other)  # <col …> is not a cell


def _random_sheet(rng: random.Random) -> bytes:
    refs = [b"A1", b"Z9", b"AB12", b"ZZ999", b"A1000", b"ZZ1", b"A2850", b"XFD1048576", b"aa1", b"B", b"7"]
    tails = [b"", b' s="3"', b' t="s"', b' s="1" t="str"', b' t = "s"', b" r='A1'", b' r="XFD1"', b' cm="1"']
    heads = [
        b'<c r="%s"',
        b"<c r='%s'",
        b'<c\tr="%s"',
        b'<x:c r="%s"',
        b'<c s="1" r="%s"',
        b'<c r ="%s"',
        b"<c",
    ]
    out = []
    for n in range(rng.randint(0, 6)):
        out.append(b'<row r="%d">' % (n + 1))
        for _ in range(rng.randint(0, 4)):
            head = rng.choice(heads) if rng.random() < 0.3 else heads[0]
            head = head % rng.choice(refs) if b"%s" in head else head
            out.append(head + rng.choice(tails) + rng.choice([b"><v>1</v></c>", b"/>"]))
        out.append(b"</row>")
    return _sheet(b"".join(out))


def test_a_sheet_the_plain_cell_test_passes_is_within_bounds_by_the_measurement() -> None:
    rng = random.Random(20260611)
    seen = {True: 0, False: 0}
    for _ in range(3000):
        xml = _random_sheet(rng)
        plain = limits._plain_cells(xml)
        seen[plain] += 1
        if plain:
            assert _within(xml), xml
        else:
            assert limits.sheet_extent(xml) == limits._extent(xml)
    assert min(seen.values()) > 300


def test_each_sheet_part_is_read_once_and_a_repeated_name_reads_the_first() -> None:
    far = _sheet(b'<row r="1"><c r="XFD1048576"><v>1</v></c></row>')
    near = _sheet(b'<row r="1"><c r="A1"><v>1</v></c></row>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", near)
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("xl/worksheets/sheet1.xml", far)
    data = buf.getvalue()
    members = zip_members(data)
    for m in members:
        assert member_data(data, members[0], m.size + 1) == member_bytes(data, members, m.name, m.size + 1)
    limits.check_sheet_extents(data, members, "t.xlsx")  # both entries read the first, near part


def _strings(root: bytes, items: int = 3) -> bytes:
    return b'<?xml version="1.0"?>\n' + root + b"<si><t>x</t></si>" * items + b"</sst>"


def _check_strings(strings: bytes) -> None:
    data = _book([("xl/workbook.xml", b"<workbook/>"), ("xl/sharedStrings.xml", strings)])
    limits.check_shared_strings(data, zip_members(data), "t.xlsx")


def test_a_shared_string_root_past_the_first_4_kb_is_still_read() -> None:
    """calamine finds the root tag after a long comment too: its count is checked wherever it is."""
    late = b"<!--" + b"x" * 5000 + b'--><sst uniqueCount="4294967295">'
    with pytest.raises(SubmissionUnreadable, match="shared-string"):
        _check_strings(_strings(late))
    _check_strings(_strings(late.replace(b"4294967295", b"3")))


@pytest.mark.parametrize("before", [0, 200, 300, 3000])
def test_the_shared_string_glance_agrees_with_the_4_kb_read(before: int) -> None:
    pad = b"<!--" + b"x" * before + b"-->" if before else b""
    for count, refused in ((b"3", False), (b"100000", False), (b"4294967295", True)):
        strings = _strings(pad + b'<sst count="3" uniqueCount="' + count + b'">')
        if refused:
            with pytest.raises(SubmissionUnreadable, match="shared-string"):
                _check_strings(strings)
        else:
            _check_strings(strings)


def _damaged(body: bytes, keep: int) -> bytes:
    """Raw deflate of ``body`` whose first ``keep`` bytes inflate and the rest fails."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = c.compress(body[:keep]) + c.flush(zlib.Z_FULL_FLUSH)
    rest = bytearray(c.compress(body[keep:]) + c.flush())
    rest[0] |= 0x06  # an invalid block type
    return first + bytes(rest)


def test_a_stream_damaged_past_the_glance_is_judged_by_the_4_kb_read() -> None:
    body = _strings(b'<sst uniqueCount="4294967295">', items=400)
    data = _book([("xl/sharedStrings.xml", body)])
    member = zip_members(data)[0]
    start = member.offset + 30 + len(member.name)
    raw = _damaged(body, 300)
    damaged = bytearray(data[:start] + raw + data[start + member.compressed :])
    damaged[member.offset + 18 : member.offset + 22] = len(raw).to_bytes(4, "little")
    cd = damaged.rfind(b"PK\x01\x02")
    damaged[cd + 20 : cd + 24] = len(raw).to_bytes(4, "little")
    eocd = damaged.rfind(b"PK\x05\x06")
    damaged[eocd + 16 : eocd + 20] = cd.to_bytes(4, "little")
    members = zip_members(bytes(damaged))
    assert member_data(bytes(damaged), members[0], limits._SST_GLANCE).startswith(b"<?xml")
    assert member_data(bytes(damaged), members[0], 4096) == b""  # the 4 KB read fails: nothing to check
    limits.check_shared_strings(bytes(damaged), members, "t.xlsx")


def test_zip_checks_refuse_in_the_same_order() -> None:
    data = _book([("xl/a.xml", b"x" * 20_000_001), ("xl/b.xml", b"y")])
    members = zip_members(data)
    limits.check_zip([], "t.xlsx", 200_000_000)
    with pytest.raises(SubmissionUnreadable, match="inflates"):
        limits.check_zip(members, "t.xlsx", 200_000_000)
    with pytest.raises(SubmissionUnreadable, match="expands"):
        limits.check_zip(members, "t.xlsx", 1000)
    locked = [m._replace(flags=m.flags | 1) for m in members]
    with pytest.raises(SubmissionUnreadable, match="inflates"):  # the bomb is named before the lock
        limits.check_zip(locked, "t.xlsx", 200_000_000)
    with pytest.raises(SubmissionUnreadable, match="encrypted"):
        limits.check_zip([m._replace(flags=1) for m in zip_members(_book([("a", b"1")]))], "t.xlsx", 10)
    with pytest.raises(SubmissionUnreadable, match="same name"):
        limits.check_zip(members + members[:1], "t.xlsx", 1)
