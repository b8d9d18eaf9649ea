"""Open a returned file safely and hand its sheets to ``layout``.

A file from a unit can be anything: an .xlsx renamed .xls, a WPS .et, a GBK CSV, an HTML
page saved as .xls, a password-protected workbook, a zip bomb, a PDF. The format is decided
by content (magic bytes, zip members, OLE stream names), limits are checked before anything
is inflated, and every failure becomes ``SubmissionUnreadable`` with a reason in English and
Chinese — one bad file never stops a batch. Workbooks are read with python-calamine.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import python_calamine as pc

from duban.domain import SheetTable
from duban.errors import SubmissionUnreadable

from .layout import META_SHEET, RawSheet, read_meta, table_from_sheet
from .text import _delimiter, looks_binary, read_delimited, read_html

__all__ = ["MAX_BYTES", "MAX_UNCOMPRESSED", "read_tables", "sniff_format"]

log = logging.getLogger(__name__)

MAX_BYTES = 20_000_000
MAX_UNCOMPRESSED = 200_000_000
MAX_RATIO = 200  # a zip member inflating more than this (and past RATIO_FLOOR) is a bomb
RATIO_FLOOR = 10_000_000
MAX_MEMBERS = 10_000
HEAD = 65_536

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OOXML_PARTS = (
    ("xl/workbook.xml", "xlsx"),
    ("xl/workbook.bin", "xlsb"),
    ("word/document.xml", "docx"),
    ("ppt/presentation.xml", "pptx"),
)
_WORKBOOKS = {"xlsx", "xlsm", "xlsb", "xls", "ods"}
_MAGIC = (
    (b"%PDF", "pdf"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF8", "image"),
    (b"Rar!", "rar"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x1f\x8b", "gzip"),
    (b"{\\rtf", "rtf"),
)
_NOT_SPREADSHEET = {
    "pdf": "PDF 文档",
    "image": "图片",
    "docx": "Word 文档",
    "doc": "Word 文档",
    "pptx": "PowerPoint 演示文稿",
    "ppt": "PowerPoint 演示文稿",
    "rtf": "RTF 文档",
    "rar": "RAR 压缩包",
    "7z": "7z 压缩包",
    "gzip": "gzip 压缩包",
    "zip": "zip 压缩包",
    "opendocument": "非表格的 OpenDocument 文档",
    "ole": "非表格的 Office 文件",
    "binary": "二进制文件",
}


class _Member(NamedTuple):
    name: str
    compressed: int
    size: int  # declared uncompressed size
    flags: int


@dataclass
class _Probe:
    fmt: str
    data: bytes
    members: list[_Member] | None = None


_EOCD = struct.Struct("<4sHHHHIIH")
_CDIR = struct.Struct("<4s4xH10xIIHHH")


def _zip_members(data: bytes) -> list[_Member]:
    """The central directory's entries, read from the end of the file without inflating anything.

    Plain zips are parsed here (fast: a workbook is opened thousands of times a quarter);
    zip64 or unusual layouts are left to ``zipfile``.
    """
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if at < 0 or at + 22 > len(data):
        return _zipfile_members(data)
    _, _, _, _, count, cd_size, _, _ = _EOCD.unpack_from(data, at)
    cd_at = at - cd_size
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_at < 0:
        return _zipfile_members(data)
    members: list[_Member] = []
    pos = cd_at
    for _ in range(count):
        if pos + 46 > at:
            raise zipfile.BadZipFile("truncated central directory")
        sig, flags, csize, usize, nlen, elen, clen = _CDIR.unpack_from(data, pos)
        if sig != b"PK\x01\x02":
            raise zipfile.BadZipFile("bad central directory entry")
        if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
            return _zipfile_members(data)
        name = data[pos + 46 : pos + 46 + nlen].decode("utf-8", "replace")  # part names are ASCII
        members.append(_Member(name, csize, usize, flags))
        pos += 46 + nlen + elen + clen
    return members


def _zipfile_members(data: bytes) -> list[_Member]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [_Member(i.filename, i.compress_size, i.file_size, i.flag_bits) for i in zf.infolist()]


def _ole_has(data: bytes, name: str) -> bool:
    """Whether a compound file's directory holds an entry ``name`` (entries are 128-byte aligned)."""
    needle = name.encode("utf-16-le") + b"\x00\x00"
    size = (len(name) + 1) * 2
    pos = data.find(needle)
    while pos != -1:
        if pos % 128 == 0 and int.from_bytes(data[pos + 64 : pos + 66], "little") == size:
            return True
        pos = data.find(needle, pos + 1)
    return False


def _sniff_ole(data: bytes) -> str:
    if _ole_has(data, "EncryptedPackage") or _ole_has(data, "EncryptionInfo"):
        return "encrypted"
    if _ole_has(data, "Workbook") or _ole_has(data, "Book"):
        return "xls"
    if _ole_has(data, "WordDocument"):
        return "doc"
    if _ole_has(data, "PowerPoint Document"):
        return "ppt"
    return "ole"


def _sniff_zip(data: bytes) -> _Probe:
    members = _zip_members(data)
    names = {m.name for m in members}
    if "mimetype" in names:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            mime = zf.read("mimetype")[:100]
            if b"opendocument.spreadsheet" in mime:
                manifest = zf.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
                if b"encryption-data" in manifest[:1_000_000]:
                    return _Probe("encrypted", data, members)
                return _Probe("ods", data, members)
            if b"opendocument" in mime:
                return _Probe("opendocument", data, members)
    for part, fmt in _OOXML_PARTS:
        if part in names:
            if fmt == "xlsx" and "xl/vbaProject.bin" in names:
                fmt = "xlsm"
            return _Probe(fmt, data, members)
    if any(n.startswith("xl/") for n in names):  # a workbook part under an unusual name
        return _Probe("xlsx", data, members)
    return _Probe("zip", data, members)


def _sample_text(head: bytes) -> str:
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(enc, errors="ignore")
    if head[1:512:2].count(0) > 100:
        return head.decode("utf-16-le", errors="ignore")
    return head.decode("utf-8", errors="ignore")


def _probe(data: bytes, suffix: str) -> _Probe:
    """What ``data`` is, judged by content; ``suffix`` only tells .tsv from .csv."""
    if not data:
        return _Probe("empty", data)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    if data.startswith(_OLE):
        return _Probe(_sniff_ole(data), data)
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return _Probe(fmt, data)
    head = data[:HEAD]
    if looks_binary(head):
        return _Probe("binary", data)
    sample = _sample_text(head[:8192])
    low = sample[:4096].lower()
    if "urn:schemas-microsoft-com:office:spreadsheet" in low and "<workbook" in low:
        return _Probe("xml2003", data)
    if "<html" in low or "<!doctype html" in low or low.lstrip().startswith("<table"):
        return _Probe("html", data)
    if _delimiter(sample, "tsv" if suffix in (".tsv", ".tab") else "csv") == "\t":
        return _Probe("tsv", data)
    return _Probe("csv", data)


def sniff_format(path: Path) -> str:
    """The file's format judged by content: ``xlsx``, ``xlsm``, ``xlsb``, ``xls``, ``ods``, ``csv``,
    ``tsv``, ``html`` (an HTML table saved as .xls), ``xml2003``, ``encrypted``, ``empty``, or what
    it is instead (``pdf``, ``docx``, ``doc``, ``zip``, ``image``, ``binary`` …)."""
    path = Path(path)
    return _probe(path.read_bytes(), path.suffix.lower()).fmt


def _fail(source: str, en: str, zh: str) -> SubmissionUnreadable:
    return SubmissionUnreadable(en, zh, source=source)


def _check_zip(infos: list[_Member], source: str, max_uncompressed: int) -> None:
    """Refuse a zip bomb from the directory's declared sizes, before inflating anything."""
    if len(infos) > MAX_MEMBERS:
        raise _fail(
            source,
            f"workbook package has {len(infos)} parts (limit {MAX_MEMBERS})",
            "文件结构异常（部件过多），已拒收",
        )
    total = sum(i.size for i in infos)
    if total > max_uncompressed:
        raise _fail(
            source,
            f"workbook expands to {total:,} bytes (limit {max_uncompressed:,}): possible zip bomb",
            f"文件解压后过大（{total:,} 字节，上限 {max_uncompressed:,} 字节），疑似异常文件，已拒收",
        )
    for info in infos:
        if info.size > RATIO_FLOOR and info.size > MAX_RATIO * max(info.compressed, 1):
            ratio = info.size // max(info.compressed, 1)
            raise _fail(
                source,
                f"part {info.name} inflates {ratio}:1 to {info.size:,} bytes: possible zip bomb",
                "文件压缩比异常，疑似异常文件，已拒收",
            )
    if any(i.flags & 0x1 for i in infos):
        raise _fail(
            source, "password-protected workbook package (encrypted zip)", "文件已加密，请取消密码后重新报送"
        )


def read_tables(
    path: Path, *, max_bytes: int = MAX_BYTES, max_uncompressed: int = MAX_UNCOMPRESSED
) -> list[SheetTable]:
    """Every report table in the file (one per sheet that holds one).

    Returns ``[]`` only when the file is a readable spreadsheet whose sheets hold no data at
    all; a file with data but no recognisable report header raises ``SubmissionUnreadable``
    ("no report table found"), as does every other failure. Nothing else escapes.
    """
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise _fail(source, "empty file (0 bytes)", "文件为空（0 字节）")
            if size > max_bytes:
                raise _fail(
                    source,
                    f"file is {size:,} bytes, over the limit of {max_bytes:,}",
                    f"文件过大（{size:,} 字节，上限 {max_bytes:,} 字节）",
                )
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise _fail(source, f"cannot open file: {exc.strerror or exc}", "无法打开文件") from None
    try:
        probe = _probe(data, path.suffix.lower())
        return _read(path, probe, source, max_uncompressed)
    except SubmissionUnreadable:
        raise
    except pc.PasswordError:
        raise _fail(
            source, "password-protected workbook", "文件设置了打开密码，请取消密码后重新报送"
        ) from None
    except (pc.CalamineError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise _fail(
            source,
            f"cannot read the workbook, damaged or unsupported: {exc}"[:300],
            "文件已损坏或格式不受支持，无法读取，请重新保存为 .xlsx 后报送",
        ) from None
    except OSError as exc:
        raise _fail(source, f"cannot read file: {exc}"[:300], "无法读取文件") from None
    except Exception as exc:  # a foreign library's surprise must not stop the batch
        log.warning("unexpected error reading %s", source, exc_info=True)
        raise _fail(
            source, f"unexpected error reading the file: {type(exc).__name__}: {exc}"[:300], "文件无法读取"
        ) from None


def _read(path: Path, probe: _Probe, source: str, max_uncompressed: int) -> list[SheetTable]:
    fmt = probe.fmt
    if fmt == "encrypted":
        raise _fail(
            source,
            "password-protected or encrypted workbook",
            "文件已加密或设置了打开密码，请取消密码后重新报送",
        )
    if fmt == "empty":
        raise _fail(source, "empty file (0 bytes)", "文件为空（0 字节）")
    if fmt == "xml2003":
        raise _fail(
            source,
            "Excel 2003 XML spreadsheet is not supported; save it as .xlsx",
            "不支持 Excel 2003 XML 表格格式，请另存为 .xlsx 后重新报送",
        )
    if fmt in _NOT_SPREADSHEET:
        raise _fail(
            source,
            f"not a spreadsheet (content is {fmt})",
            f"不是电子表格文件（内容为{_NOT_SPREADSHEET[fmt]}），请使用下发的报表模板填报",
        )
    if fmt in ("csv", "tsv", "html"):
        return _read_text(path, probe, source)
    if probe.members is not None:
        _check_zip(probe.members, source, max_uncompressed)
    return _read_workbook(path, probe, source)


def _no_table(source: str) -> SubmissionUnreadable:
    return _fail(
        source,
        "no report table found: no row near the top of any sheet names at least two report columns "
        "(such as 任务编码, 工作任务, 完成状态, 本期进展情况)",
        "未找到报表表头：请使用下发的报表模板，保留表头行（任务编码、工作任务、完成状态、本期进展情况等）",
    )


def _has_data(rows: list[list[object]]) -> bool:
    return any(v is not None and (v.strip() if isinstance(v, str) else True) for row in rows for v in row)


def _read_text(path: Path, probe: _Probe, source: str) -> list[SheetTable]:
    notes: list[str] = []
    if probe.fmt == "html":
        sheet = read_html(probe.data, source=source)
        if not sheet.rows:
            raise _fail(
                source,
                "not a spreadsheet (an HTML page without a table)",
                "不是电子表格文件（网页中没有表格）",
            )
        notes.append("read as an HTML table saved under a spreadsheet name")
    else:
        sheet, encoding, _ = read_delimited(probe.data, source=source, hint=probe.fmt)
        if not encoding.startswith("UTF-8"):
            notes.append(f"text decoded as {encoding}")
    table = table_from_sheet(sheet, source=source, file_name=path.name)
    if table is None:
        if not _has_data(sheet.rows):
            return []
        raise _no_table(source)
    table.sheet = None
    table.notes[:0] = notes
    return [table]


def _read_workbook(path: Path, probe: _Probe, source: str) -> list[SheetTable]:
    with pc.CalamineWorkbook.from_filelike(io.BytesIO(probe.data)) as wb:  # by content, not by name
        metas = wb.sheets_metadata
        meta: dict[str, str] = {}
        if any(m.name == META_SHEET for m in metas):
            meta = read_meta(wb.get_sheet_by_name(META_SHEET).to_python(skip_empty_area=False))
        sheets = [m for m in metas if m.typ == pc.SheetTypeEnum.WorkSheet and m.name != META_SHEET]
        visible = [m.name for m in sheets if m.visible == pc.SheetVisibleEnum.Visible]
        hidden = [m.name for m in sheets if m.visible != pc.SheetVisibleEnum.Visible]
        tables, seen_data, error = _scan(wb, visible, source, path.name, meta, hidden=False)
        if not tables and hidden:
            tables, more, err2 = _scan(wb, hidden, source, path.name, meta, hidden=True)
            seen_data, error = seen_data or more, error or err2
            for t in tables:
                t.notes.insert(0, f"used hidden sheet {t.sheet} because it holds the data")
    if tables:
        return tables
    if error is not None:
        raise error
    if seen_data:
        raise _no_table(source)
    return []


def _scan(
    wb: pc.CalamineWorkbook,
    names: list[str],
    source: str,
    file_name: str,
    meta: dict[str, str],
    *,
    hidden: bool,
) -> tuple[list[SheetTable], bool, Exception | None]:
    tables: list[SheetTable] = []
    seen_data = False
    error: Exception | None = None
    for name in names:
        try:
            sheet = wb.get_sheet_by_name(name)
            rows = sheet.to_python()
        except pc.PasswordError:
            raise
        except pc.CalamineError as exc:  # one damaged sheet: keep reading the others
            error = error or exc
            continue
        if not rows:
            continue
        start = sheet.start or (0, 0)
        raw = RawSheet(
            name=name,
            rows=rows,
            first_row=start[0] + 1,
            first_col=start[1] + 1,
            merged=sheet.merged_cell_ranges or (),
            hidden=hidden,
        )
        table = table_from_sheet(raw, source=source, file_name=file_name, meta=meta)
        if table is not None:
            tables.append(table)
        elif not seen_data:
            seen_data = _has_data(rows)
    return tables, seen_data, error
