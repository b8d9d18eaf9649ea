"""Text tables: CSV/TSV in whatever encoding a unit's PC wrote, and HTML saved as ``.xls``.

Excel on a zh-CN Windows writes "CSV (逗号分隔)" in GBK, "CSV UTF-8" with a BOM and "Unicode
text" as UTF-16 with tabs; old reporting systems export HTML tables named ``.xls``. Each is
decoded and split into a grid for ``layout``. Undecodable or binary content is refused
rather than read as mojibake.
"""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from itertools import repeat

from duban.errors import SubmissionUnreadable

from .layout import RawSheet

__all__ = ["decode_text", "delimiter", "looks_binary", "read_delimited", "read_html"]

_ODD = re.compile(
    r"[^\x09\x0a\x0d\x20-\x7e\u00a0-\u00ff\u2000-\u206f\u2100-\u218f\u2460-\u24ff\u2500-\u257f"
    r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"
)
MAX_TEXT_ROWS = 200_000  # a CSV or HTML table past this is not a unit's report
MAX_TEXT_CELLS = 2_000_000
MAX_COLSPAN = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes(b for b in range(256) if b < 9 or 13 < b < 32 or b == 127)
_CONTROL_CHARS = bytes(b for b in range(256) if _CONTROL.match(chr(b)))  # ``_CONTROL`` as bytes


def looks_binary(head: bytes) -> bool:
    """True for bytes no text editor would write: NULs (outside UTF-16) or many control codes."""
    if not head:
        return False
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(head):
        return False
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > len(head) // 100


def _utf16_without_bom(head: bytes) -> str | None:
    sample = head[:512]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.3 and even == 0:
        return "utf-16-le"
    if even > half * 0.3 and odd == 0:
        return "utf-16-be"
    return None


def _unreadable(en: str, zh: str, source: str) -> SubmissionUnreadable:
    return SubmissionUnreadable(en, zh, source=source)


def _too_big(source: str, rows: int, cells: int) -> SubmissionUnreadable:
    return _unreadable(
        f"text table too large: over {MAX_TEXT_ROWS:,} rows or {MAX_TEXT_CELLS:,} cells "
        f"(at {rows:,} rows, {cells:,} cells)",
        "表格行数或单元格数过多，疑似异常文件，已拒收",
        source,
    )


def decode_text(data: bytes, source: str = "") -> tuple[str, str]:
    """``(text, encoding)``: BOM first, then strict UTF-8, then GBK/GB18030 against Big5.

    Among the legacy encodings that decode without error, the one giving the fewest
    characters outside Chinese, ASCII and common punctuation wins (ties go to GBK), so a
    GBK file is not read as Big5 and a Big5 file does not become GB18030 mojibake.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        encoding, body = "utf-8-sig", data[3:]
        label = "UTF-8 (BOM)"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding, body, label = "utf-16", data, "UTF-16"
    elif enc := _utf16_without_bom(data):
        encoding, body, label = enc, data, enc.upper()
    else:
        encoding = body = label = None  # type: ignore[assignment]
    if encoding is not None:
        try:
            return body.decode(encoding), label
        except UnicodeDecodeError as exc:
            raise _unreadable(
                f"text declares {label} but does not decode: {exc.reason} at byte {exc.start}",
                "文件编码损坏，无法按声明的编码读取",
                source,
            ) from None
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    candidates: list[tuple[int, int, str, str]] = []
    for rank, (codec, name) in enumerate((("gbk", "GBK"), ("gb18030", "GB18030"), ("big5", "Big5"))):
        if codec == "gb18030" and candidates:
            continue  # GB18030 only matters where GBK failed
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        odd = len(_ODD.findall(text))
        candidates.append((odd, rank, text, name))
        if not odd:  # nothing later can do better: ties go to the earlier encoding
            break
    if not candidates:
        raise _unreadable(
            "not a text table: the bytes decode as none of UTF-8, UTF-16, GBK, GB18030 or Big5",
            "文件内容不是可识别编码的文本表格（支持 UTF-8、GBK、GB18030），无法读取",
            source,
        )
    _, _, text, name = min(candidates)
    return text, name


def delimiter(text: str, hint: str = "csv") -> str:
    """The separator of a delimited text: the one splitting most lines into the same number of
    fields (commas inside prose vary from line to line, real separators do not). A ``.tsv``
    name settles it for tabs when the text has any."""
    lines = [ln for ln in text[:20_000].splitlines()[:30] if ln.strip()]
    joined = "\n".join(lines)  # one search tells which separators occur at all
    if hint == "tsv" and "\t" in joined:
        return "\t"
    best, best_key = ",", (0, 0)
    for d in ("\t", ",", ";", "|"):
        if d not in joined:
            continue
        counts = list(map(str.count, lines, repeat(d)))
        mode = max(set(counts), key=counts.count)
        key = (counts.count(mode) if mode else 0, sum(counts))
        if key > best_key:
            best, best_key = d, key
    return best


def read_delimited(data: bytes, *, source: str, hint: str = "csv") -> tuple[RawSheet, str, str]:
    """The grid of a CSV/TSV file, its encoding label and delimiter name (``csv`` or ``tsv``)."""
    text, encoding = decode_text(data, source)
    sample = text[:65536]
    if len(sample) == len(text) and not encoding.startswith("UTF-16"):
        # the whole text: outside UTF-16 a control character is the same single byte, and no
        # other character's bytes fall in that range, so the bytes are counted (C speed)
        controls = len(data) - len(data.translate(None, _CONTROL_CHARS))
    else:
        controls = len(_CONTROL.findall(sample))
    if controls > len(sample) // 100:
        raise _unreadable(
            "not a text table: binary control characters in the content",
            "文件内容不是文本表格（含大量二进制字符），无法读取",
            source,
        )
    sep = delimiter(text, hint)
    rows: list[list[str]] = []
    cells = 0
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=False):
            rows.append(row)
            cells += len(row)
            if len(rows) > MAX_TEXT_ROWS or cells > MAX_TEXT_CELLS:
                raise _too_big(source, len(rows), cells)
    except csv.Error as exc:
        raise _unreadable(f"malformed CSV: {exc}", "CSV 文件格式错误，无法解析", source) from None
    kind = "tsv" if sep == "\t" else "csv"
    return RawSheet(name="", rows=rows), encoding, kind


class _Tables(HTMLParser):
    """Rows of every <table> in a page; a cell's colspan becomes empty cells after it."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.cells = 0
        self._source = source
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._span = 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._close_row()
            self._row = []
        elif tag in ("td", "th"):
            self._close_cell()
            if self._row is None:
                self._row = []
            self._cell = []
            span = dict(attrs).get("colspan") or "1"
            self._span = min(int(span), MAX_COLSPAN) if span.isdigit() and int(span) > 0 else 1
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._close_cell()
        elif tag in ("tr", "table"):
            self._close_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _close_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"[ \t\r\n]+", " ", "".join(self._cell)).strip())
            self._row.extend([""] * (self._span - 1))
            self.cells += self._span
            if self.cells > MAX_TEXT_CELLS:
                raise _too_big(self._source, len(self.rows), self.cells)
        self._cell = None

    def _close_row(self) -> None:
        self._close_cell()
        if self._row is not None:
            self.rows.append(self._row)
            if len(self.rows) > MAX_TEXT_ROWS:
                raise _too_big(self._source, len(self.rows), self.cells)
        self._row = None


def read_html(data: bytes, *, source: str) -> RawSheet:
    """The cells of the HTML tables in a page (the "xls" many reporting systems export)."""
    text, _ = decode_text(data, source)
    parser = _Tables(source)
    parser.feed(text)
    parser.close()
    parser._close_row()
    return RawSheet(name="", rows=parser.rows)
