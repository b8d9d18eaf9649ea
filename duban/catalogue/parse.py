"""Turn a plan document into a task catalogue: plan → parts (一、) → sections ((一)) → items.

Items are the numbered tasks (``N.``) and the unnumbered paragraphs that carry a unit clause;
everything else is kept as context. Ids come from the document's own structure, never from
titles, so a re-import of the same or a lightly amended document keeps them: task N is
``T01``…, an unnumbered item is named after its part and section (``P5S1``; ``P6S2-1``,
``P6S2-2`` … when a section holds several). Unit names are kept raw here; the unit directory
resolves them in a separate step (:func:`duban.units.resolve_catalogue`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from duban.catalogue.clauses import (
    Clause,
    build_assignments,
    clause_deadline,
    find_clauses,
    label_kind,
    normalise,
    parse_label_line,
    split_units,
)
from duban.catalogue.front import is_metadata_line, read_plan
from duban.catalogue.readers import Block, read_lines, split_text
from duban.domain import Catalogue, ContextBlock, Item
from duban.errors import CatalogueError

__all__ = ["parse_blocks", "parse_document", "parse_text"]

_PART_RE = re.compile(r"^([一二三四五六七八九十百]{1,4})\s*、\s*(.*)$")
_SECTION_RE = re.compile(r"^\(\s*([一二三四五六七八九十百]{1,4})\s*\)\s*(.*)$")
_TASK_RE = re.compile(r"^(\d{1,4})\s*(?:\.(?!\d)|、)\s*(.*)$")
_ROW_NUMBER_RE = re.compile(r"^\(?\s*(\d{1,4})\s*[).、]?$")
_TASK_COLUMN_RE = re.compile(r"任务|工作内容|事项|举措|措施|内容")
_NUMBER_COLUMNS = frozenset({"序号", "编号", "任务编号", "序"})
_TITLE_MAX = 100
_CN = {c: i for i, c in enumerate("零一二三四五六七八九")}


def _cn_int(text: str) -> int:
    """一 → 1, 十二 → 12, 二十 → 20, 一百零一 → 101 (enough for part and section keys)."""
    total, digit = 0, 0
    for c in text:
        if c in _CN:
            digit = _CN[c]
        elif c in "十百":
            total += (digit or 1) * (10 if c == "十" else 100)
            digit = 0
    return total + digit


def _first_sentence(text: str) -> str:
    head = text.strip().split("。", 1)[0].strip()
    return head[:_TITLE_MAX]


def _strip_spans(text: str, clauses: list[Clause]) -> str:
    """The text with the unit clauses cut out."""
    out, pos = [], 0
    for c in clauses:
        out.append(text[pos : c.start])
        pos = c.end
    out.append(text[pos:])
    return "".join(out).strip()


@dataclass
class _Entry:
    """One paragraph-like thing of a scope: a task, a heading line, a paragraph or a table row."""

    kind: str  # "task" | "head" | "para" | "row"
    order: int
    number: int | None = None
    texts: list[str] = field(default_factory=list)
    unit_text: str = ""
    segments: list[tuple[str, int, int]] = field(default_factory=list)
    deadline: str | None = None
    has_units: bool = False
    heading_only: bool = False

    def add_segment(self, text: str, kind: str, start: int, end: int) -> None:
        offset = len(self.unit_text) + 1 if self.unit_text else 0
        self.unit_text = f"{self.unit_text}\n{text}" if self.unit_text else text
        self.segments.append((kind, start + offset, end + offset))
        if kind == "deadline":
            self.deadline = self.deadline or text[start:end].strip(" ,;，；、。") or None
        elif split_units(text, start, end):
            self.has_units = True

    def add_clauses(self, text: str, clauses: list[Clause]) -> None:
        self.deadline = self.deadline or clause_deadline(text, clauses)
        for clause in clauses:
            for kind, a, b in clause.segments:
                self.add_segment(text, kind, a, b)

    def add_text(self, text: str) -> None:
        clauses = find_clauses(text)
        cleaned = _strip_spans(text, clauses)
        if cleaned:
            self.texts.append(cleaned)
        self.add_clauses(text, clauses)

    @property
    def text(self) -> str:
        return "\n".join(t for t in self.texts if t)


@dataclass
class _Draft:
    order: int
    number: int | None
    scope: tuple[tuple[str, str, int], tuple[str, str, int] | None]
    title: str
    text: str
    entry: _Entry
    id: str | None = None


class _Builder:
    """Walks the body blocks, keeps the current part/section scope, collects drafts."""

    def __init__(self) -> None:
        self.part: tuple[str, str, int] = ("", "", 0)
        self.section: tuple[str, str, int] | None = None
        self.scope: list[_Entry] = []
        self.drafts: list[_Draft] = []
        self.context: list[tuple[int, ContextBlock]] = []
        self.table: dict[str, list[int]] | None = None
        self.order = 0

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, block: Block) -> None:
        self.order += 1
        if isinstance(block, list):
            self._feed_row(block)
        else:
            self.table = None
            self._feed_line(block.strip())

    def _add(self, kind: str, text: str, *, number: int | None = None, heading_only: bool = False) -> _Entry:
        entry = _Entry(kind, self.order, number=number, heading_only=heading_only)
        entry.add_text(text)
        self.scope.append(entry)
        return entry

    def _feed_line(self, line: str) -> None:
        norm = normalise(line)
        if m := _PART_RE.match(norm):
            self.close_scope()
            rest = line[m.start(2) :].strip()
            self.part, self.section = (m.group(1), _first_sentence(rest), _cn_int(m.group(1))), None
            self._add("head", rest, heading_only="。" not in rest.rstrip("。"))
        elif m := _SECTION_RE.match(norm):
            self.close_scope()
            rest = line[m.start(2) :].strip()
            self.section = (f"({m.group(1)})", _first_sentence(rest), _cn_int(m.group(1)))
            self._add("head", rest, heading_only="。" not in rest.rstrip("。"))
        elif m := _TASK_RE.match(norm):
            self._add("task", line[m.start(2) :].strip(), number=int(m.group(1)))
        elif (clause := parse_label_line(line)) is not None:
            target = self.scope[-1] if self.scope else self._add("para", "")
            target.add_clauses(line, [clause])
        elif self.scope and self.scope[-1].kind == "task" and not self.scope[-1].has_units:
            self.scope[-1].add_text(line)  # a task's text runs on until its unit clause
        else:
            self._add("para", line)

    def _feed_row(self, cells: list[str]) -> None:
        cells = [c.strip() for c in cells]
        header = _table_header(cells)
        if header is not None:
            self.table = header
            return
        distinct = [c for c in dict.fromkeys(cells) if c]
        if not distinct:
            return
        if self.table is None or len(distinct) == 1:
            self._feed_line(" ".join(distinct))  # a heading row, or a table we cannot read
            return
        cols = self.table

        def cells_of(role: str) -> list[str]:
            return [cells[i] for i in cols.get(role, []) if i < len(cells) and cells[i]]

        number = None
        for cell in cells_of("number"):
            if m := _ROW_NUMBER_RE.match(normalise(cell)):
                number = int(m.group(1))
                break
        task_text = "\n".join(cells_of("task"))
        if number is None and (m := _TASK_RE.match(normalise(task_text))):
            number, task_text = int(m.group(1)), task_text[m.start(2) :]
        entry = _Entry("row", self.order, number=number)
        entry.add_text(task_text)
        for role in ("lead", "resp", "co", "deadline"):
            for cell in cells_of(role):
                entry.add_segment(cell, role, 0, len(cell))
        self.scope.append(entry)

    # -- scopes ----------------------------------------------------------------------------
    def _keep_context(self, entries: list[_Entry]) -> None:
        part_key, part_title, _ = self.part
        sec_key, sec_title = (self.section[0], self.section[1]) if self.section else (None, None)
        for e in entries:
            if e.text and not (e.kind == "head" and e.heading_only):
                block = ContextBlock(part_key, part_title, sec_key, sec_title, e.text)
                self.context.append((e.order, block))

    def close_scope(self) -> None:
        """Numbered entries become tasks; runs of other paragraphs end at one with units."""
        scope = (self.part, self.section)
        groups: list[list[_Entry]] = []
        run: list[_Entry] = []
        has_tasks = any(e.number is not None for e in self.scope)
        for e in self.scope:
            if e.number is not None:
                self._keep_context(run)
                run = []
                self.drafts.append(_Draft(e.order, e.number, scope, _first_sentence(e.text), e.text, e))
            elif e.kind == "row":
                self._keep_context(run)
                run = []
                if e.has_units:
                    groups.append([e])
                else:
                    self._keep_context([e])
            else:
                run.append(e)
                if e.has_units:
                    groups.append(run)
                    run = []
        self._keep_context(run)
        key = f"P{self.part[2]}" + (f"S{self.section[2]}" if self.section else "")
        heading = (self.section or self.part)[1]
        for k, group in enumerate(groups, start=1):
            # A heading line's text is already the section title; it is the text only when alone.
            bodies = [e.text for e in group if e.text and not (e.kind == "head" and e.heading_only)]
            text = "\n".join(bodies) or "\n".join(e.text for e in group if e.text)
            single = len(groups) == 1 and not has_tasks and heading
            title = heading if single else _first_sentence(text)
            merged = _merge(group)
            item_id = key if len(groups) == 1 else f"{key}-{k}"
            self.drafts.append(_Draft(group[-1].order, None, scope, title, text, merged, item_id))
        self.scope = []


def _merge(group: list[_Entry]) -> _Entry:
    """One entry holding the unit clauses of a run of paragraphs (normally only the last has any)."""
    if len(group) == 1:
        return group[0]
    merged = _Entry("para", group[-1].order)
    for e in group:
        offset = len(merged.unit_text) + 1 if merged.unit_text else 0
        if e.unit_text:
            merged.unit_text = f"{merged.unit_text}\n{e.unit_text}" if merged.unit_text else e.unit_text
        merged.segments.extend((kind, a + offset, b + offset) for kind, a, b in e.segments)
        merged.has_units = merged.has_units or e.has_units
        merged.deadline = merged.deadline or e.deadline
    return merged


def _table_header(cells: list[str]) -> dict[str, list[int]] | None:
    """Column roles of a task table's header row (序号 | 工作任务 | 牵头单位 | …), else None."""
    roles: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        name = normalise(cell).replace(" ", "").rstrip(":")
        if not name or len(name) > 12:
            continue
        kind = label_kind(name)
        if name in _NUMBER_COLUMNS:
            roles.setdefault("number", []).append(i)
        elif kind is not None:
            roles.setdefault(kind, []).append(i)
        elif _TASK_COLUMN_RE.search(name):
            roles.setdefault("task", []).append(i)
    has_units = any(k in roles for k in ("lead", "co", "resp"))
    return roles if has_units and "task" in roles else None


def _body_start(blocks: list[Block]) -> int:
    for i, block in enumerate(blocks):
        if isinstance(block, list):
            if _table_header([c.strip() for c in block]) is not None:
                return i
            continue
        norm = normalise(block.strip())
        if _PART_RE.match(norm) or _SECTION_RE.match(norm) or _TASK_RE.match(norm):
            return i
    return len(blocks)


def _finish_ids(drafts: list[_Draft]) -> None:
    """``T01``… for numbered tasks; qualified by part/section if the numbering restarts."""
    numbered = [d for d in drafts if d.number is not None]
    numbers = [d.number for d in numbered]
    width = max(2, *(len(str(n)) for n in numbers)) if numbers else 2
    restarts = len(set(numbers)) != len(numbers)
    for d in numbered:
        (_, _, p), section = d.scope
        prefix = f"P{p}" + (f"S{section[2]}" if section else "") if restarts else ""
        d.id = f"{prefix}T{d.number:0{width}d}"
    seen: set[str] = set()
    for d in drafts:
        base, k = d.id or "X", 1
        while d.id in seen or d.id is None:
            k += 1
            d.id = f"{base}_{k}"
        seen.add(d.id)


def parse_blocks(blocks: list[Block], source_name: str = "", *, error_source: str | None = None) -> Catalogue:
    """The catalogue of a document already split into blocks (see :func:`read_lines`)."""
    where = error_source or source_name or "<text>"
    start = _body_start(blocks)
    plan, title_at = read_plan(blocks[:start], source_name)
    if start == len(blocks):
        start = title_at + 1 if title_at is not None else 0
    builder = _Builder()
    preamble = blocks[(title_at + 1 if title_at is not None else start) : start]
    for block in preamble:
        if isinstance(block, str) and block.strip() and not is_metadata_line(block):
            builder.order += 1
            builder.context.append((builder.order, ContextBlock("", "", None, None, block.strip())))
    for block in blocks[start:]:
        builder.feed(block)
    builder.close_scope()
    drafts = sorted(builder.drafts, key=lambda d: d.order)
    # A numbered list in a part that assigns no units at all (principles, goals) is context.
    parts_with_units = {d.scope[0][0] for d in drafts if d.entry.has_units}
    for d in [d for d in drafts if not d.entry.has_units and d.scope[0][0] not in parts_with_units]:
        drafts.remove(d)
        (pk, pt, _), sec = d.scope
        builder.context.append((d.order, ContextBlock(pk, pt, sec and sec[0], sec and sec[1], d.text)))
    if not drafts:
        raise CatalogueError(
            where,
            "no recognisable items: found no numbered tasks (1. …) and no paragraph with a unit "
            "clause such as (责任单位:…) or (牵头单位:…)",
        )
    _finish_ids(drafts)
    items = []
    for d in drafts:
        (part_key, part_title, _), section = d.scope
        assignments = tuple(build_assignments(d.entry.unit_text, d.entry.segments))
        items.append(
            Item(
                id=d.id or "",
                number=d.number,
                part_key=part_key,
                part_title=part_title,
                section_key=section[0] if section else None,
                section_title=section[1] if section else None,
                title=d.title,
                text=d.text,
                assignments=assignments,
                deadline=d.entry.deadline,
            )
        )
    context = tuple(block for _, block in sorted(builder.context, key=lambda pair: pair[0]))
    return Catalogue(plan=plan, items=tuple(items), context=context, source_name=source_name)


def parse_text(text: str, source_name: str = "") -> Catalogue:
    """The catalogue of a plan given as text (plain or Markdown)."""
    blocks = split_text(text)
    if not blocks:
        raise CatalogueError(source_name or "<text>", "the document is empty")
    return parse_blocks(blocks, source_name)


def parse_document(path: Path) -> Catalogue:
    """The catalogue of a plan file (.txt, .md, .docx, .html); CatalogueError names file and reason."""
    path = Path(path)
    return parse_blocks(read_lines(path), path.name, error_source=str(path))
