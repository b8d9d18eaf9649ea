"""The plan's identity from a document's front matter: 文号, title, date of issue, issuer.

Portal copies carry a metadata table (``文号 | 丽政发〔2022〕29号 | 成文日期 | 2022-11-25``);
printed documents a cover letter ending in the issuer and a date line, then the title. The
labelled values win; otherwise the patterns of an official document are used (文号 as
``X发〔YYYY〕N号``, the title as the last heading-like line before the body).
"""

from __future__ import annotations

import re
from datetime import date

from duban.catalogue.clauses import normalise
from duban.catalogue.readers import Block
from duban.domain import Plan

__all__ = ["find_doc_number", "is_metadata_line", "parse_date", "read_plan"]

_DOC_NO_RE = re.compile(r"([\u4e00-\u9fff]{1,10})\s*[〔\[(]\s*((?:19|20)\d{2})\s*[〕\])]\s*(\d{1,5})\s*号")
_DOC_NO_NOISE_RE = re.compile(r"^(?:根据|按照|依据|文号|印发|转发|关于|现将|经)+")
_LABELS = {
    "发文字号": "doc_number",
    "文号": "doc_number",
    "发文号": "doc_number",
    "成文日期": "date",
    "发文日期": "date",
    "印发日期": "date",
    "发布日期": "date",
    "签发日期": "date",
    "发文机关": "issuer",
    "发布机构": "issuer",
    "发文单位": "issuer",
    "发文机构": "issuer",
    "标题": "title",
    "名称": "title",
}
_LABEL_LINE_RE = re.compile(rf"^({'|'.join(_LABELS)})\s*:\s*(.+)$")
_DATE_RE = re.compile(r"((?:19|20)\d{2})\s*[-年./]\s*(\d{1,2})\s*[-月./]\s*(\d{1,2})\s*日?")
_CN_DATE_RE = re.compile(
    r"([〇零○O一二三四五六七八九]{4})\s*年\s*([一二三四五六七八九十]{1,3})\s*月\s*([一二三四五六七八九十]{1,3})\s*日"
)
_CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "O": 0}
_DOC_TYPES = (
    "方案|意见|通知|办法|规划|计划|要点|措施|决定|细则|纲要|规定|清单|分工|指南|通报|报告|条例|任务|安排|纪要"
)
_TITLE_END_RE = re.compile(rf"(?:{_DOC_TYPES})(?:\([^()]{{1,12}}\))?$")
_ISSUER_RE = re.compile(r"(?:人民政府|政府|办公室|办公厅|委员会|领导小组|局|厅|委|办)$")
_NOT_HEADING_RE = re.compile(r"[。:;,!?]$|^\(|^[0-9]|^[一二三四五六七八九十]+、")


def _cn_number(text: str) -> int:
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    return _CN_DIGITS.get(text, 0)


def parse_date(text: str) -> date | None:
    """``2022-11-25``, ``2022年11月25日``, ``二〇二二年十一月二十五日`` → a date; else None."""
    text = normalise(text)
    try:
        if m := _DATE_RE.search(text):
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := _CN_DATE_RE.search(text):
            year = int("".join(str(_CN_DIGITS[c]) for c in m.group(1)))
            return date(year, _cn_number(m.group(2)), _cn_number(m.group(3)))
    except ValueError:
        return None
    return None


def find_doc_number(text: str) -> str | None:
    """The first 文号 (``丽政发〔2022〕29号``) in ``text``, with the document's own brackets."""
    m = _DOC_NO_RE.search(normalise(text))
    if m is None:
        return None
    noise = _DOC_NO_NOISE_RE.match(m.group(1))
    start = m.start(1) + (noise.end() if noise else 0)
    return text[start : m.end()].replace(" ", "")


def _labelled(front: list[Block]) -> dict[str, str]:
    """Values of labelled metadata, from table rows (label cell, value cell) and ``标签:值`` lines."""
    found: dict[str, str] = {}
    for block in front:
        if isinstance(block, list):
            cells = [c.strip() for c in block]
            for label, value in zip(cells, [*cells[1:], ""], strict=True):
                key = _LABELS.get(normalise(label).strip(" :"))
                if key and value and key not in found:
                    found[key] = value
        elif m := _LABEL_LINE_RE.match(normalise(block)):
            found.setdefault(_LABELS[m.group(1)], block[m.start(2) :].strip())
    return found


def is_metadata_line(line: str) -> bool:
    """A ``文号:…``/``成文日期:…`` line, a bare 文号 or a bare date: front matter, not preamble."""
    norm = normalise(line).strip()
    return bool(_LABEL_LINE_RE.match(norm)) or find_doc_number(norm) == norm or _is_date_line(norm)


def _is_date_line(line: str) -> bool:
    stripped = normalise(line).strip(" ()")
    return bool(_DATE_RE.fullmatch(stripped) or _CN_DATE_RE.fullmatch(stripped))


def _title_index(lines: list[tuple[int, str]]) -> int | None:
    """Position (in ``lines``) of the title: the last doc-type heading, else the first heading."""
    headings = [
        k
        for k, (_, line) in enumerate(lines)
        if 4 <= len(line) <= 80
        and not _NOT_HEADING_RE.search(normalise(line))
        and not _is_date_line(line)
        and find_doc_number(line) != line
    ]
    typed = [k for k in headings if _TITLE_END_RE.search(normalise(lines[k][1]).strip("《》"))]
    if typed:
        return typed[-1]
    plain = [k for k in headings if not _ISSUER_RE.search(lines[k][1])]
    return plain[0] if plain else None


def read_plan(front: list[Block], source_name: str) -> tuple[Plan, int | None]:
    """The plan identity from the blocks before the body, and the index of the title block.

    ``doc_number`` is "" when the document carries none; ``title`` falls back to the file
    name's stem. Blocks after the title index are the plan's preamble.
    """
    labelled = _labelled(front)
    lines = [(i, b.strip()) for i, b in enumerate(front) if isinstance(b, str) and b.strip()]
    title_at = _title_index(lines)
    doc_number = labelled.get("doc_number") or ""
    # Unlabelled: a 文号 before the title (a cover letter) or on a line of its own; a 文号
    # cited in the preamble ("根据…(国发〔2022〕14号)") is another document's.
    for k, (_, line) in enumerate(lines):
        if doc_number:
            break
        found = find_doc_number(line)
        if found and (title_at is None or k < title_at or found == normalise(line).strip(" ()")):
            doc_number = found
    title = lines[title_at][1].strip("《》 ") if title_at is not None else labelled.get("title", "")
    if not title:
        title = source_name.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "未命名方案"
    issued_on = parse_date(labelled["date"]) if "date" in labelled else None
    issuer: str | None = None
    for k, (_, line) in enumerate(lines):
        if _is_date_line(line):
            issued_on = issued_on or parse_date(line)
            prev = lines[k - 1][1] if k else ""
            if issuer is None and len(prev) <= 30 and _ISSUER_RE.search(prev):
                issuer = prev
    if issuer is None and (m := re.match(r"^(.{2,30}?)关于", title)):
        issuer = m.group(1)
    issuer = issuer or labelled.get("issuer")
    plan = Plan(doc_number=doc_number, title=title, issued_on=issued_on, issuer=issuer)
    return plan, (lines[title_at][0] if title_at is not None else None)
