"""What a received file is, judged by its bytes — never by its name.

Units rename files (an .xlsx saved as .xls, a WPS .et, a CSV called .xlsx) and some send
what is not a spreadsheet at all. The first bytes, the zip directory (read from the end of
the file, without inflating anything) and the OLE directory's stream names tell which
reader to use, or which reason to give for refusing it.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .text import delimiter, looks_binary

__all__ = ["Member", "Probe", "member_bytes", "member_data", "probe", "sniff_format", "zip_members"]

HEAD = 65_536

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OOXML_PARTS = (
    ("xl/workbook.xml", "xlsx"),
    ("xl/workbook.bin", "xlsb"),
    ("word/document.xml", "docx"),
    ("ppt/presentation.xml", "pptx"),
)
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


class Member(NamedTuple):
    name: str
    compressed: int
    size: int  # declared uncompressed size
    flags: int
    method: int = 8  # 0 stored, 8 deflated
    offset: int = 0  # of the local file header


@dataclass
class Probe:
    fmt: str
    data: bytes
    members: list[Member] | None = None


_EOCD = struct.Struct("<4sHHHHIIH")
_CDIR = struct.Struct("<4s4xHH8xIIHHH8xI")
_LOCAL = struct.Struct("<HH")


def zip_members(data: bytes) -> list[Member]:
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
    members: list[Member] = []
    append, unpack, new = members.append, _CDIR.unpack_from, tuple.__new__  # new: Member() minus its __new__
    pos = cd_at
    for _ in range(count):
        if pos + 46 > at:
            raise zipfile.BadZipFile("truncated central directory")
        sig, flags, method, csize, usize, nlen, elen, clen, offset = unpack(data, pos)
        if sig != b"PK\x01\x02":
            raise zipfile.BadZipFile("bad central directory entry")
        if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF or offset == 0xFFFFFFFF:
            return _zipfile_members(data)
        name = data[pos + 46 : pos + 46 + nlen].decode("utf-8", "replace")  # part names are ASCII
        append(new(Member, (name, csize, usize, flags, method, offset)))
        pos += 46 + nlen + elen + clen
    return members


def _zipfile_members(data: bytes) -> list[Member]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [
            Member(i.filename, i.compress_size, i.file_size, i.flag_bits, i.compress_type, i.header_offset)
            for i in zf.infolist()
        ]


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


def member_bytes(data: bytes, members: list[Member], name: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a zip member, inflated from ``data`` (b"" when absent or
    unreadable): a small part can be looked at without trusting its declared size."""
    member = next((m for m in members if m.name == name), None)
    return b"" if member is None else member_data(data, member, limit)


def member_data(data: bytes, member: Member, limit: int) -> bytes:
    """At most ``limit`` bytes of ``member`` (one of ``data``'s), as ``member_bytes`` reads them."""
    offset = member.offset
    if member.flags & 0x1 or data[offset : offset + 4] != b"PK\x03\x04":
        return b""
    nlen, elen = _LOCAL.unpack_from(data, offset + 26)
    start = offset + 30 + nlen + elen
    if member.method == 0:
        return data[start : start + member.compressed][:limit]
    if member.method != 8:
        return b""
    try:  # inflated from a view: the compressed bytes are not copied
        return zlib.decompressobj(-15).decompress(memoryview(data)[start : start + member.compressed], limit)
    except zlib.error:
        return b""


def _sniff_zip(data: bytes) -> Probe:
    members = zip_members(data)
    names = {m.name for m in members}
    if "mimetype" in names:
        mime = member_bytes(data, members, "mimetype", 200)
        if b"opendocument.spreadsheet" in mime:
            if b"encryption-data" in member_bytes(data, members, "META-INF/manifest.xml", 1_000_000):
                return Probe("encrypted", data, members)
            return Probe("ods", data, members)
        if b"opendocument" in mime:
            return Probe("opendocument", data, members)
    for part, fmt in _OOXML_PARTS:
        if part in names:
            if fmt == "xlsx" and "xl/vbaProject.bin" in names:
                fmt = "xlsm"
            return Probe(fmt, data, members)
    if any(n.startswith("xl/") for n in names):  # a workbook part under an unusual name
        return Probe("xlsx", data, members)
    return Probe("zip", data, members)


def _sample_text(head: bytes) -> str:
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(enc, errors="ignore")
    if head[1:512:2].count(0) > 100:
        return head.decode("utf-16-le", errors="ignore")
    return head.decode("utf-8", errors="ignore")


def probe(data: bytes, suffix: str) -> Probe:
    """What ``data`` is, judged by content; ``suffix`` only tells .tsv from .csv."""
    if not data:
        return Probe("empty", data)
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data)
    if data.startswith(_OLE):
        return Probe(_sniff_ole(data), data)
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return Probe(fmt, data)
    head = data[:HEAD]
    if looks_binary(head):
        return Probe("binary", data)
    sample = _sample_text(head[:8192])
    low = sample[:4096].lower()
    if "urn:schemas-microsoft-com:office:spreadsheet" in low and "<workbook" in low:
        return Probe("xml2003", data)
    if "<html" in low or "<!doctype html" in low or low.lstrip().startswith("<table"):
        return Probe("html", data)
    if delimiter(sample, "tsv" if suffix in (".tsv", ".tab") else "csv") == "\t":
        return Probe("tsv", data)
    return Probe("csv", data)


def sniff_format(path: Path) -> str:
    """The file's format judged by content: ``xlsx``, ``xlsm``, ``xlsb``, ``xls``, ``ods``, ``csv``,
    ``tsv``, ``html`` (an HTML table saved as .xls), ``xml2003``, ``encrypted``, ``empty``, or what
    it is instead (``pdf``, ``docx``, ``doc``, ``zip``, ``image``, ``binary`` …)."""
    path = Path(path)
    return probe(path.read_bytes(), path.suffix.lower()).fmt
