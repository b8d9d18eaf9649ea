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
from pathlib import Path

from duban.errors import SubmissionUnreadable

from .sniff import Member, member_bytes

__all__ = [
    "MAX_CELLS",
    "MAX_MEMBERS",
    "MAX_RATIO",
    "RATIO_FLOOR",
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

# Letters → "A", digits → "0": one C-level pass turns every cell reference into a shape
# (r="XFD1048576" → r="AAA0000000") that plain substring searches can screen.
_SHAPE = bytes.maketrans(bytes(range(65, 91)) + b"0123456789", b"A" * 26 + b"0" * 10)
_VALUE_REF = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]{1,3})(\d{1,7})"[^>]*(?<!/)>')
_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>]")
_ROW_NUM = re.compile(rb'<(?:\w+:)?row\s[^>]*?\br="(\d{1,7})"')
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s>]")
# BIFF DIMENSIONS record headers (type 0x0200, length 14 in BIFF8, 10 in BIFF5) and row limits.
_DIMENSIONS = ((b"\x00\x02\x0e\x00", "<IIHHH", 1 << 20), (b"\x00\x02\x0a\x00", "<HHHHH", 1 << 16))
_NO_REF = re.compile(rb"<(?:\w+:)?c(?![^>]*\sr=)(?:\s[^>]*)?>")


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
    total = sum(m.size for m in members)
    if total > max_uncompressed:
        raise _fail(
            source,
            f"workbook expands to {total:,} bytes (limit {max_uncompressed:,}): possible zip bomb",
            f"文件解压后过大（{total:,} 字节，上限 {max_uncompressed:,} 字节），疑似异常文件，已拒收",
        )
    for m in members:
        if m.size > RATIO_FLOOR and m.size > MAX_RATIO * max(m.compressed, 1):
            ratio = m.size // max(m.compressed, 1)
            raise _fail(
                source,
                f"part {m.name} inflates {ratio}:1 to {m.size:,} bytes: possible zip bomb",
                "文件压缩比异常，疑似异常文件，已拒收",
            )
    if any(m.flags & 0x1 for m in members):
        raise _fail(
            source, "password-protected workbook package (encrypted zip)", "文件已加密，请取消密码后重新报送"
        )


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _screened(xml: bytes) -> bool:
    """True when a sheet's used range is certainly small: at most 26 columns × 9,999 rows or
    702 columns × 999 rows, every cell with its own reference. A handful of substring scans.

    In the shape (capitals → ``A``, digits → ``0``, lowercase kept) a reference past column
    ZZ reads ``r="AAA0`` and one past row 9,999 ends ``A00000"``; an unrelated attribute that
    happens to match only sends the sheet to the exact (slower) measurement.
    """
    shape = xml.translate(_SHAPE)
    if b'r="AAA0' in shape or b'A00000"' in shape or b'r="00000' in shape:
        return False  # a column past ZZ, or a row past 9,999 (in a cell reference or a row tag)
    if b'r="AA0' in shape and (b'A0000"' in shape or b'r="0000' in shape):
        return False  # columns past Z and rows past 999: together they may span a lot
    cells = xml.count(b"<c ") + xml.count(b"<c>")
    return cells <= shape.count(b' r="A')  # no cell placed without a reference


def sheet_extent(xml: bytes) -> tuple[int, int]:
    """An upper bound of (rows, columns) of the dense range calamine builds for a sheet.

    Ordinary sheets pass ``_screened`` and get the screen's bound without more work; only
    far references or reference-less cells are measured with regular expressions.
    """
    if _screened(xml):
        return 999, 702
    refs = _VALUE_REF.findall(xml)
    rows = max((int(r) for r in {r for _, r in refs}), default=0)
    cols = max((_column_number(c) for c in {c for c, _ in refs}), default=0)
    if _NO_REF.search(xml):  # cells placed one after another: a row is as wide as its cells
        chunks = _ROW_TAG.split(xml)
        cols = max(cols, max(len(_CELL_TAG.findall(chunk)) for chunk in chunks))
        numbered = [int(n) for n in _ROW_NUM.findall(xml)]
        rows = max(rows, len(chunks) - 1, max(numbered, default=0))
    return rows, cols


def check_sheet_extents(data: bytes, members: list[Member], source: str) -> None:
    """Refuse an .xlsx whose sheet would make calamine build a range past ``MAX_CELLS``."""
    for m in members:
        if not (m.name.startswith("xl/worksheets/") and m.name.endswith(".xml")):
            continue
        rows, cols = sheet_extent(member_bytes(data, members, m.name, m.size + 1))
        if rows * cols > MAX_CELLS:
            raise _fail(
                source,
                f"sheet part {m.name} spans {rows:,} rows × {cols:,} columns "
                f"(more than {MAX_CELLS:,} cells): refused",
                f"工作表范围过大（{rows:,} 行 × {cols:,} 列），疑似异常文件，已拒收",
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


def open_xls_fenced(path: Path, source: str, *, timeout: float = 20) -> None:
    """Open a damaged-looking .xls in a child process first: calamine aborts the whole process
    (no ``except`` can catch it) on some broken BIFF records, e.g. an inverted DIMENSIONS range
    for which it reserves petabytes. A child that dies means the file is refused, not the batch."""
    code = "import sys, python_calamine; python_calamine.CalamineWorkbook.from_path(sys.argv[1])"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode < 0 or done.returncode > 1:
        raise _fail(
            source,
            "damaged .xls: the workbook structure is corrupt (the reader could not open it safely)",
            "Excel 97-2003（.xls）文件结构损坏，无法安全读取，请重新导出后报送",
        )
