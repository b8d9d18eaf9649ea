"""Read a plan document into blocks: paragraph lines and table rows, in document order.

Plans arrive as .txt/.md (UTF-8, or GBK/GB18030 from older systems), .docx (paragraphs and
tables) and .html pages saved from government portals. Each reader yields the same shape —
a ``str`` per paragraph line, a ``list[str]`` per table row — so the parser sees one format.
Every failure becomes a :class:`~duban.errors.CatalogueError` naming the file and the reason.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from duban.errors import CatalogueError

__all__ = ["Block", "decode_text", "read_lines", "split_text"]

#: A paragraph line or a table row (its cells).
Block = str | list[str]

_MD_PREFIX_RE = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+(?!\d))")
_MD_RULE_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)
_BLOCK_TAGS = frozenset(
    "p div h1 h2 h3 h4 h5 h6 li ul ol section article blockquote pre dd dt dl header footer "  # noqa: SIM905
    "center main aside nav form address figure figcaption".split()
)
_SKIP_TAGS = frozenset(["script", "style", "head", "title", "noscript", "template", "svg"])
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_WS_RE = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def decode_text(data: bytes, source: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK/GB2312)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            msg = f"cannot decode the UTF-16 text: {exc.reason} at byte {exc.start}"
            raise CatalogueError(source, msg) from None
    if b"\x00" in data[:65536]:
        raise CatalogueError(source, "looks like a binary file (NUL bytes), not a text document")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise CatalogueError(
                source,
                "cannot decode the text: it is neither UTF-8 nor GBK/GB18030 "
                f"(first invalid UTF-8 byte at offset {utf8_error.start}); save it as UTF-8",
            ) from None
    sample = text[:65536]
    if sample and len(_CONTROL_RE.findall(sample)) > max(8, len(sample) // 100):
        raise CatalogueError(source, "looks like a binary file (control characters), not a text document")
    return text


def _clean_line(line: str) -> str:
    line = _MD_PREFIX_RE.sub("", line)
    return line.replace("**", "").replace("__", "").strip()


def split_text(text: str) -> list[Block]:
    """Lines of a plain or Markdown text; ``| a | b |`` lines become table rows."""
    blocks: list[Block] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _MD_RULE_RE.match(line):
            continue
        if line.count("|") >= 2:
            cells = [_clean_line(c) for c in line.strip("|").split("|")]
            blocks.append(cells)
            continue
        line = _clean_line(line)
        if line:
            blocks.append(line)
    return blocks


def _read_docx(path: Path, source: str) -> list[Block]:
    from docx import Document
    from docx.table import Table

    try:
        document = Document(str(path))
    except Exception as exc:  # python-docx raises several unrelated types for a broken package
        raise CatalogueError(source, f"not a readable .docx document ({type(exc).__name__}: {exc})") from None
    blocks: list[Block] = []
    for part in document.iter_inner_content():
        if isinstance(part, Table):
            for row in part.rows:
                blocks.append([_WS_RE.sub(" ", cell.text).strip() for cell in row.cells])
        else:
            for line in part.text.splitlines():
                if line.strip():
                    blocks.append(line.strip())
    return blocks


def _read_html(data: bytes, source: str) -> list[Block]:
    from bs4 import BeautifulSoup, NavigableString, Tag
    from bs4.element import Comment, Doctype, ProcessingInstruction

    declared = _META_CHARSET_RE.search(data[:4096])
    if declared and declared.group(1).lower() in {b"gbk", b"gb2312", b"gb18030", b"x-gbk"}:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            msg = f"declares charset {declared.group(1).decode()} but does not decode: {exc.reason}"
            raise CatalogueError(source, msg) from None
    else:
        text = decode_text(data, source)
    soup = BeautifulSoup(text, "html.parser")
    blocks: list[Block] = []
    buf: list[str] = []

    def flush() -> None:
        line = _WS_RE.sub(" ", "".join(buf).replace("\n", " ")).strip()
        buf.clear()
        if line:
            blocks.append(line)

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment | Doctype | ProcessingInstruction):
                continue
            if isinstance(child, NavigableString):
                buf.append(str(child))
            elif isinstance(child, Tag):
                if child.name in _SKIP_TAGS:
                    continue
                if child.name == "br":
                    flush()
                elif child.name == "table":
                    flush()
                    for tr in child.find_all("tr"):
                        if tr.find_parent("table") is child:
                            cells = tr.find_all(["td", "th"], recursive=False)
                            blocks.append([_WS_RE.sub(" ", c.get_text(" ")).strip() for c in cells])
                else:
                    is_block = child.name in _BLOCK_TAGS
                    if is_block:
                        flush()
                    walk(child)
                    if is_block:
                        flush()

    walk(soup.body or soup)
    flush()
    return blocks


def read_lines(path: Path) -> list[Block]:
    """The document's blocks in order: ``str`` for a paragraph line, ``list[str]`` for a table row.

    The format is chosen by content first (a zip is .docx, ``<html`` is HTML), then by suffix.
    Raises CatalogueError for a missing, empty, binary, undecodable or unsupported file.
    """
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogueError(source, f"cannot read the file: {exc.strerror or exc}") from None
    if not data.strip():
        raise CatalogueError(source, "the file is empty")
    suffix = path.suffix.lower()
    head = data[:1024].lstrip().lower()
    if data.startswith(b"PK\x03\x04") or suffix == ".docx":
        if not zipfile.is_zipfile(path):
            raise CatalogueError(source, "not a readable .docx document (not a zip package)")
        blocks = _read_docx(path, source)
    elif data.startswith(b"%PDF"):
        raise CatalogueError(source, "PDF is not supported; convert the plan to .docx, .html or .txt")
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise CatalogueError(source, "legacy .doc/.xls (OLE) is not supported; save it as .docx")
    elif suffix in {".html", ".htm", ".xhtml"} or head.startswith((b"<!doctype html", b"<html")):
        blocks = _read_html(data, source)
    else:
        blocks = split_text(decode_text(data, source))
    if not blocks:
        raise CatalogueError(source, "the document has no text")
    return blocks
