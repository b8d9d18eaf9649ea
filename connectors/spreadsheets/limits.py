"""Refuse what would cost too much before the reader pays for it.

A small file can ask for a lot: a zip member that inflates a thousandfold, or two cells at
A1 and XFD1048576 — calamine builds the dense range between them (17 billion cells) and the
process aborts, taking the whole batch with it. These checks read only the zip directory
and the sheet XML (already bounded by the directory check), never calamine's output.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from functools import reduce
from operator import or_

from duban.errors import SubmissionUnreadable

from .sniff import Member, member_data

__all__ = [
    "MAX_CELLS",
    "MAX_MEMBERS",
    "MAX_RATIO",
    "RATIO_FLOOR",
    "check_shared_strings",
    "check_sheet_extents",
    "check_xls_extents",
    "check_zip",
    "open_xls_fenced",
    "sheet_extent",
]

MAX_RATIO = 200  # a zip member inflating more than this (and past RATIO_FLOOR) is a bomb
RATIO_FLOOR = 10_000_000
MAX_MEMBERS = 10_000
MAX_CELLS = 2_000_000  # rows × columns of one sheet's used range (a report has a few thousand)

# Letters → "A", digits → "0", ' → " and tab/CR/LF → space: one C-level pass turns every cell
# reference into a shape (r="XFD1048576" → r="AAA0000000") that plain substring searches can screen.
_SHAPE = bytes.maketrans(bytes(range(65, 91)) + b"0123456789'\t\r\n", b"A" * 26 + b"0" * 10 + b'"' + b" " * 3)
_NORM = bytes.maketrans(b"'\t\r\n", b'"' + b" " * 3)  # calamine takes either quote and any spacing
_UNREFERENCED = re.compile(rb'<c(?! r="AA?0)[ />]')  # in the shape: a cell not opening with its reference
_CELL_OPEN = re.compile(rb"<(?:[\w.-]+:)?c(?: ([^>]*?))?(?<!/)>")  # a cell that may hold a value
_ROW_OPEN = re.compile(rb"<(?:[\w.-]+:)?row ([^>]*)>")
_REF = re.compile(rb'\br *= *"([A-Za-z]*)(\d*)"')  # any digit run: r="B4294967295" counts too
_ROW_REF = re.compile(rb'\br *= *"(\d+)"')
_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row[ />]")
_CELL_TAG = re.compile(rb"<(?:[\w.-]+:)?c[ />]")
_NO_REF = re.compile(rb"<(?:[\w.-]+:)?c(?![^>]*\br *=)(?:[ /][^>]*)?>")
# A cell tag as Excel, WPS, LibreOffice and openpyxl write it: its reference first (one or two
# capitals, one to three digits), then at most a style and a type, the common forms tried first.
# This finds any other cell tag (see _plain_cells); a ``<c`` followed by anything but a space,
# ``/`` or ``>`` is another element.
_ODD_CELL = re.compile(
    rb'<c(?! r="[A-Z]{1,2}+[0-9]{1,3}+"'
    rb'(?: t="s">|>| t="[A-Za-z]++"/?+>| s="[0-9]++"(?: t="[A-Za-z]++")?+/?+>|/>))(?=[\s/>])'
)
_PREFIXED_CELL = re.compile(rb":c(?=[\s/>])")  # <x:c …>, a cell too for calamine and sheet_extent
_SST_OPEN = re.compile(rb"<(?:[\w.-]+:)?sst[\s>/]")
_UNIQUE_COUNT = re.compile(rb"\buniqueCount\s*=\s*[\"']\s*(\d+)")
_MIN_STRING_BYTES = 5  # the smallest shared string item, <si/>
_STRINGS_FLOOR = 100_000  # a declared uniqueCount calamine may reserve for harmlessly (~2.4 MB)
_DEFLATE_MAX_RATIO = 1032  # deflate cannot inflate more than this
_SST_GLANCE = 256  # Excel, WPS and openpyxl end the shared-string root tag within ~170 bytes


def _fail(source: str, en: str, zh: str) -> SubmissionUnreadable:
    return SubmissionUnreadable(en, zh, source=source)


def check_zip(members: list[Member], source: str, max_uncompressed: int) -> None:
    """Refuse a zip bomb from the directory's declared sizes, before inflating anything."""
    if len(members) > MAX_MEMBERS:
        raise _fail(
            source,
            f"workbook package has {len(members)} parts (limit {MAX_MEMBERS})",
            "文件结构异常（部件过多），已拒收",
        )
    if not members:
        return
    names, _, sizes, flags, _, _ = zip(*members, strict=True)  # the directory's columns
    if len(set(names)) != len(names):
        # the checks here read one copy of a part and the reader another: a forged package
        raise _fail(
            source,
            "workbook package holds two parts of the same name: damaged or forged",
            "文件结构异常（部件重名），疑似损坏或伪造文件，已拒收",
        )
    total = sum(sizes)
    if total > max_uncompressed:
        raise _fail(
            source,
            f"workbook expands to {total:,} bytes (limit {max_uncompressed:,}): possible zip bomb",
            f"文件解压后过大（{total:,} 字节，上限 {max_uncompressed:,} 字节），疑似异常文件，已拒收",
        )
    for m in members if max(sizes) > RATIO_FLOOR else ():
        if m.size > RATIO_FLOOR and m.size > MAX_RATIO * max(m.compressed, 1):
            ratio = m.size // max(m.compressed, 1)
            raise _fail(
                source,
                f"part {m.name} inflates {ratio}:1 to {m.size:,} bytes: possible zip bomb",
                "文件压缩比异常，疑似异常文件，已拒收",
            )
    if reduce(or_, flags) & 0x1:
        raise _fail(
            source, "password-protected workbook package (encrypted zip)", "文件已加密，请取消密码后重新报送"
        )


def _screened(xml: bytes) -> bool:
    """The quick screen's verdict on a sheet (see ``_quick_screen``)."""
    return _quick_screen(xml.translate(_SHAPE))


def _quick_screen(shape: bytes) -> bool:
    """True when a sheet's references look small: at most 26 columns × 9,999 rows or 702
    columns × 999 rows, every cell with its own reference. A handful of substring scans.

    In the shape (capitals → ``A``, digits → ``0``, lowercase kept) a reference past column
    ZZ reads ``r="AAA0`` and one past row 9,999 ends ``A00000"``; an unrelated attribute that
    happens to match only sends the sheet to the exact (slower) measurement.

    A typical sheet is settled in three scans of the shape: no reference of two letters or
    more (``r="AA``), no run of five digits anywhere, and no cell tag (``<c ``, ``<c>``,
    ``<c/>``, ``<x:c``) that does not begin with its reference (``<c r="A``). Each implies
    the finer test it stands for, so a sheet passing them passes the finer tests too; any
    other sheet takes the finer tests. ``_screen_holds`` closes what the finer tests miss.
    """
    if _plain(shape):
        return True
    if b'r="AAA0' in shape or b'A00000"' in shape or b'r="00000' in shape:
        return False  # a column past ZZ, or a row past 9,999 (in a cell reference or a row tag)
    if b'r="AA0' in shape and (b'A0000"' in shape or b'r="0000' in shape):
        return False  # columns past Z and rows past 999: together they may span a lot
    cells = shape.count(b"<c ") + shape.count(b"<c>")
    return cells <= shape.count(b' r="A')  # no cell placed without a reference


def _plain(shape: bytes) -> bool:
    """The common sheet: no reference of two letters or more, no five-digit run, every cell
    opening with its reference."""
    return b'r="AA' not in shape and b"00000" not in shape and _UNREFERENCED.search(shape) is None


def _spelled_plainly(shape: bytes) -> bool:
    """No reference spelled in a way the screens do not read (see ``_screen_holds``)."""
    return (
        b'"r=' not in shape
        and b" =" not in shape
        and b"= " not in shape
        and b":c" not in shape  # a prefixed cell (<x:c>)
        and shape.count(b' r="') == shape.count(b'<c r="') + shape.count(b'<row r="')
    )


def _screen_holds(shape: bytes) -> bool:
    """Whether a sheet the quick screen passed is truly within its bound.

    The quick screen reads only references spelled ``<c r="A…"``; calamine also takes a
    reference of 4+ letters or 6+ digits (``r="ZZ1048576"`` ends ``A0000000"``), a cell
    named with a prefix (``<x:c``), a second or lowercase ``r``, ``r = "…"`` and
    ``r='…'`` (the shape makes ``'`` a ``"``), and places ``<c/>`` as a cell. A sheet showing
    any of these is measured exactly instead.
    """
    return (
        b'r="AAA' not in shape
        and b'00000"' not in shape
        and _UNREFERENCED.search(shape) is None
        and _spelled_plainly(shape)
    )


def _number(digits: bytes) -> int:
    return int(digits) if 0 < len(digits) < 19 else (0 if not digits else 10**18)


def _column_number(letters: bytes) -> int:
    if len(letters) > 6:
        return 10**9
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _plain_cells(xml: bytes) -> bool:
    """Whether every cell tag of a sheet is written as Excel, WPS, LibreOffice and openpyxl
    write it, ``<c r="AB123" s="4" t="s">``, which bounds the sheet to 999 rows × 702 columns.

    Two scans of the raw XML that do work only at a ``<c`` or a ``:c``. Sound because both
    readers see a cell only where such a ``c`` is followed by whitespace, ``/`` or ``>``:
    calamine (an element named ``c``, with any prefix) and the exact measurement below
    (``_CELL_OPEN`` and ``_NO_REF``, on the XML with ``'``→``"`` and tab/CR/LF→space). A sheet
    passing has no prefixed cell, and each unprefixed cell tag holds its reference first, spelled
    ``r="`` + one or two capitals + one to three digits + ``"``, then nothing but
    `` s="digits"``, `` t="letters"``, ``/`` and ``>``: no quote, spacing or second ``r`` for
    either reader to take another reference from, and no cell without one (``_NO_REF`` finds
    none). Every reference is then within ZZ999: 701,298 cells at most, under ``MAX_CELLS``,
    whatever else the sheet holds — so the measurement would pass it as well. Any other
    spelling (a sheet past row 999 among them) is left to the screen and measurement below.
    """
    return _ODD_CELL.search(xml) is None and _PREFIXED_CELL.search(xml) is None


def sheet_extent(xml: bytes) -> tuple[int, int]:
    """An upper bound of (rows, columns) of the dense range calamine builds for a sheet.

    Ordinary sheets pass a screen and get its bound without more work (``_plain_cells``, then
    the shape screens); only far references, unusual spellings or reference-less cells are
    measured with regular expressions, which read every reference as calamine does (any
    quote, any spacing, any case, any number of digits, every ``r`` of a tag).
    """
    return (999, 702) if _plain_cells(xml) else _extent(xml)


def _extent(xml: bytes) -> tuple[int, int]:
    """``sheet_extent`` for a sheet ``_plain_cells`` does not settle: the shape screens, then
    the exact measurement."""
    shape = xml.translate(_SHAPE)
    # the common sheet passes the quick screen's first test, which implies the first three of
    # _screen_holds: only the spelling is left to check
    if _spelled_plainly(shape) if _plain(shape) else _quick_screen(shape) and _screen_holds(shape):
        return 999, 702
    norm = xml.translate(_NORM)
    refs = _REF.findall(b" " + b" ".join(_CELL_OPEN.findall(norm)))
    rows = max((_number(r) for r in {r for _, r in refs}), default=0)
    cols = max((_column_number(c) for c in {c for c, _ in refs}), default=0)
    if _NO_REF.search(norm):  # cells placed one after another: each one widens its row by one
        chunks = _ROW_TAG.split(norm)
        cols += max(len(_CELL_TAG.findall(chunk)) for chunk in chunks)
        numbered = [_number(n) for n in _ROW_REF.findall(b" " + b" ".join(_ROW_OPEN.findall(norm)))]
        rows += max(len(chunks) - 1, max(numbered, default=0))
    return rows, cols


def check_sheet_extents(data: bytes, members: list[Member], source: str) -> None:
    """Refuse an .xlsx whose sheet would make calamine build a range past ``MAX_CELLS``.

    Each sheet part is inflated once, from its own directory entry (a repeated name reads the
    first part of that name, as a look-up by name would; ``check_zip`` refuses such packages).
    """
    first: dict[str, Member] = {}
    for m in members:
        name = m.name
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            continue
        rows, cols = sheet_extent(member_data(data, first.setdefault(name, m), m.size + 1))
        if rows * cols > MAX_CELLS:
            raise _fail(
                source,
                f"sheet part {name} spans {rows:,} rows × {cols:,} columns "
                f"(more than {MAX_CELLS:,} cells): refused",
                f"工作表范围过大（{rows:,} 行 × {cols:,} 列），疑似异常文件，已拒收",
            )


def _overstated(head: bytes, start: int, end: int, part: Member) -> tuple[int, int] | None:
    """(declared, size) when the root tag in ``head[start:end]`` declares more strings than
    the part can hold; None when it declares none or a plausible count."""
    at = head.find(b"uniqueCount", start, end)  # where a match must begin: the regex has no literal lead
    found = _UNIQUE_COUNT.search(head, at, end) if at != -1 else None
    if found is None:
        return None
    declared = _number(found.group(1))
    size = part.size if part.method == 0 else min(part.size, _DEFLATE_MAX_RATIO * (part.compressed + 1))
    return (declared, size) if declared > max(size // _MIN_STRING_BYTES, _STRINGS_FLOOR) else None


def check_shared_strings(data: bytes, members: list[Member], source: str) -> None:
    """Refuse an .xlsx whose shared-string table declares more strings than its part can hold.

    calamine reserves room for ``uniqueCount`` strings (24 bytes each) before reading one:
    ``uniqueCount="4294967295"`` asks for 103 GB and aborts the process. A string item takes
    at least five bytes (``<si/>``), so the part's size bounds the count; only the start of
    the inflated part is read (the root tag, unless it is padded past the first 4 KB or starts
    there, after a long comment say: calamine still finds it, so the whole part is read then).

    A glance at the first ``_SST_GLANCE`` bytes passes the common part: when it holds the whole
    root tag, the 4 KB read finds that same tag (the leftmost ``<sst``, and the first ``>`` after
    it). Anything else, a refusal included, is decided by the 4 KB read, so a stream damaged
    past the glance is judged as before.
    """
    part = next((m for m in members if m.name == "xl/sharedStrings.xml"), None)
    if part is None:
        return
    glance = member_data(data, part, _SST_GLANCE)
    root = _SST_OPEN.search(glance)
    end = glance.find(b">", root.end() - 1) if root is not None else -1
    if root is not None and end != -1 and _overstated(glance, root.start(), end, part) is None:
        return
    head = member_data(data, part, 4096)
    root = _SST_OPEN.search(head)
    if (root is None and len(head) == 4096) or (root is not None and head.find(b">", root.end() - 1) == -1):
        head = member_data(data, part, part.size + 1)  # a root tag past the first 4 KB, or padded
    root = _SST_OPEN.search(head)
    end = head.find(b">", root.end() - 1) if root is not None else -1
    over = _overstated(head, root.start(), end, part) if root is not None and end != -1 else None
    if over is not None:
        declared, size = over
        raise _fail(
            source,
            f"shared-string table declares {declared:,} strings in a part of {size:,} bytes: refused",
            "共享字符串表记录的数量异常，疑似损坏文件，已拒收",
        )


def check_xls_extents(data: bytes, source: str) -> bool:
    """Refuse a .xls whose DIMENSIONS record declares a used range past ``MAX_CELLS``.

    calamine builds the dense range of a BIFF sheet too (65,536 × 256 cells cost ~1.2 GB).
    The record (0x0200) is found by its header in the file's bytes and believed only with
    plausible values; a file lying in it is not caught here. Returns True when a record looked
    damaged (implausible values): the caller then opens the file in a fenced child first.
    """
    suspicious = False
    for header, fmt, limit in (
        (b"\x00\x02\x0e\x00", "<IIHHH", 1 << 20),
        (b"\x00\x02\x0a\x00", "<HHHHH", 1 << 16),
    ):
        pos = data.find(header)
        while pos != -1 and pos + 4 + struct.calcsize(fmt) <= len(data):
            first_row, end_row, first_col, end_col, reserved = struct.unpack_from(fmt, data, pos + 4)
            if reserved == 0 and end_row < first_row <= limit and first_col <= end_col <= 256:
                # calamine sizes its buffer from end - first: an inverted range asks for petabytes
                # and aborts the whole process, which no except can catch.
                raise _fail(
                    source,
                    f"a sheet declares an inverted row range ({first_row:,} > {end_row:,}): refused",
                    "工作表范围记录异常（起始行大于结束行），疑似损坏文件，已拒收",
                )
            plausible = reserved == 0 and first_row <= end_row <= limit and first_col <= end_col <= 256
            suspicious = suspicious or not plausible
            if plausible and (end_row - first_row) * (end_col - first_col) > MAX_CELLS:
                rows, cols = end_row - first_row, end_col - first_col
                raise _fail(
                    source,
                    f"a sheet declares {rows:,} rows × {cols:,} columns (over {MAX_CELLS:,} cells): refused",
                    f"工作表范围过大（{rows:,} 行 × {cols:,} 列），疑似异常文件，已拒收",
                )
            pos = data.find(header, pos + 1)
    return suspicious


def open_xls_fenced(data: bytes, source: str, *, timeout: float = 20) -> None:
    """Open a damaged-looking .xls in a child process first: calamine aborts the whole process
    (no ``except`` can catch it) on some broken BIFF records, e.g. an inverted DIMENSIONS range
    for which it reserves petabytes. A child that dies means the file is refused, not the batch.

    The child gets the very bytes the caller will read (on stdin) and opens them by content,
    as the caller does: what it survives is what the caller is about to open."""
    code = (
        "import io, sys, python_calamine; "
        "python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(sys.stdin.buffer.read()))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], input=data, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode < 0 or done.returncode > 1:
        raise _fail(
            source,
            "damaged .xls: the workbook structure is corrupt (the reader could not open it safely)",
            "Excel 97-2003（.xls）文件结构损坏，无法安全读取，请重新导出后报送",
        )
