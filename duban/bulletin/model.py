"""The bulletin as one renderer-neutral document: paragraphs of runs, tables, figures, attachments.

The wording and the order of the 通报 are decided here once; docx, HTML and xlsx only lay the
same blocks out in their own medium. Tables keep typed cells (ints, shares, stars) so the
spreadsheet gets numbers while the documents get the same text via ``format_cell``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from duban.bulletin.facts import PeriodFacts
from duban.bulletin.metrics import Metrics, stars_text

__all__ = [
    "Attachment",
    "Block",
    "Bulletin",
    "Column",
    "Figure",
    "Paragraph",
    "Run",
    "Style",
    "Table",
    "build_bulletin",
    "cn_date",
    "cn_number",
    "format_cell",
]


class Style(StrEnum):
    """Paragraph roles; each renderer maps them to its own styles (docx: 公文正文, 一级标题 …)."""

    TITLE = "title"
    ADDRESSEE = "addressee"
    HEADING1 = "heading1"
    HEADING2 = "heading2"
    BODY = "body"
    ATTACHMENT_LIST = "attachment_list"  # 附件：1.…
    ATTACHMENT_LIST_CONT = "attachment_list_cont"  # 2.… aligned under the first name
    SIGNATURE = "signature"
    DATE = "date"
    NOTE = "note"  # 附注 (说明) under the date
    ATTACHMENT_LABEL = "attachment_label"  # 附件1, top-left of a new page
    ATTACHMENT_TITLE = "attachment_title"


@dataclass(frozen=True)
class Run:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Paragraph:
    runs: tuple[Run, ...]
    style: Style = Style.BODY

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)

    @classmethod
    def of(cls, text: str, style: Style = Style.BODY) -> Paragraph:
        return cls((Run(text),), style)


@dataclass(frozen=True)
class Column:
    """A table column; ``kind`` is text | int | pct (0–1 share) | progress (0–100) | stars."""

    name: str
    kind: str = "text"
    width_mm: float = 20.0


@dataclass(frozen=True)
class Table:
    key: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[object, ...], ...]
    bold_rows: tuple[int, ...] = ()  # e.g. the 合计 row

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]

    def text_rows(self) -> list[list[str]]:
        return [[format_cell(v, c.kind) for v, c in zip(row, self.columns, strict=True)] for row in self.rows]


@dataclass(frozen=True)
class Figure:
    """A chart slot: ``key`` names a PNG in the ``charts`` mapping given to a renderer."""

    key: str
    caption: str


Block = Paragraph | Table | Figure


@dataclass(frozen=True)
class Attachment:
    number: int
    key: str  # units | lagging | groups
    title: str
    blocks: tuple[Block, ...]

    @property
    def label(self) -> str:
        return f"附件{self.number}"


@dataclass(frozen=True)
class Bulletin:
    title: str
    period_key: str
    period_label: str
    issued_on: date
    body: tuple[Block, ...]  # title to date, in reading order
    notes: tuple[str, ...]  # 说明: counting and rating rules
    attachments: tuple[Attachment, ...]
    office_name: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    #: The complete tables of the xlsx appendix by key, where an attachment shows only part of one
    #: (附件1 at province scale lists the units needing attention; the sheet keeps every unit).
    sheets: dict[str, Table] = field(default_factory=dict)

    def attachment(self, key: str) -> Attachment:
        for a in self.attachments:
            if a.key == key:
                return a
        raise KeyError(key)

    def table(self, key: str) -> Table:
        for a in self.attachments:
            for blk in a.blocks:
                if isinstance(blk, Table) and blk.key == key:
                    return blk
        raise KeyError(key)

    def sheet_table(self, key: str) -> Table:
        """The complete table ``key`` for the spreadsheet: every row, even if the documents show fewer."""
        return self.sheets.get(key) or self.table(key)

    def paragraphs(self) -> list[Paragraph]:
        """Every paragraph, body then attachments (tests and plain-text export use it)."""
        out = [b for b in self.body if isinstance(b, Paragraph)]
        for a in self.attachments:
            out += [b for b in a.blocks if isinstance(b, Paragraph)]
        return out


_DIGITS = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十 (enough for headings and sections)."""
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "十" if tens == 1 else _DIGITS[tens] + "十"
    return head + (_DIGITS[ones] if ones else "")


def cn_date(d: date) -> str:
    """GB/T 9704 成文日期: Arabic numerals, no leading zeros — 2027年1月15日."""
    return f"{d.year}年{d.month}月{d.day}日"


def format_cell(value: object, kind: str) -> str:
    if value is None or value == "":
        return "—" if kind != "text" else ""
    if kind == "pct":
        return f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]
    if kind == "progress":
        return f"{float(value):g}%"  # type: ignore[arg-type]
    if kind == "stars":
        return stars_text(int(value))  # type: ignore[call-overload]
    return str(value)


def build_bulletin(
    facts: PeriodFacts,
    metrics: Metrics,
    *,
    issued_on: date | None = None,
    unit_rows_max: int | None = None,
) -> Bulletin:
    """Compose the 通报 from the period's facts and its metrics; no number is computed here.

    ``unit_rows_max`` (default ``sections.UNIT_ROWS_MAX``, the settings' ``bulletin.docx_unit_rows_max``)
    bounds 附件1: with more units than that, it lists only the units needing attention, worst first.
    """
    from duban.bulletin import sections

    issued = issued_on or facts.as_of
    plan = facts.catalogue.plan
    title = f"关于{facts.period_label}《{plan.title}》落实情况的通报"
    cap = sections.UNIT_ROWS_MAX if unit_rows_max is None else unit_rows_max
    attachments = sections.attachments(facts, metrics, unit_rows_max=cap)
    body: list[Block] = [Paragraph.of(title, Style.TITLE), Paragraph.of("各责任单位：", Style.ADDRESSEE)]
    body += sections.preamble(facts)
    body += sections.overview(facts, metrics, capped=len(metrics.units) > cap)
    body += sections.progress(facts, metrics)
    body += sections.problems(facts, metrics)
    body += sections.next_steps(facts)
    for i, a in enumerate(attachments):
        style = Style.ATTACHMENT_LIST if i == 0 else Style.ATTACHMENT_LIST_CONT
        prefix = "附件：" if i == 0 else ""
        body.append(Paragraph.of(f"{prefix}{a.number}.{a.title}", style))
    office = facts.office_name or "领导小组办公室"
    body.append(Paragraph.of(office, Style.SIGNATURE))
    body.append(Paragraph.of(cn_date(issued), Style.DATE))
    notes = (*metrics.rules, "“主要进展”摘录牵头单位报送的本期进展情况，文字以各单位报送为准。")
    body.append(Paragraph.of("说明：", Style.NOTE))
    body += [Paragraph.of(f"{i}.{n}", Style.NOTE) for i, n in enumerate(notes, start=1)]
    return Bulletin(
        title=title,
        period_key=facts.period_key,
        period_label=facts.period_label,
        issued_on=issued,
        body=tuple(body),
        notes=notes,
        attachments=tuple(attachments),
        office_name=office,
        sheets={"units": sections.unit_table(metrics)},
    )
