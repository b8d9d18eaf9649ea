"""Plain value types that travel between the stages.

The data flows one way — plan document → catalogue → submission rows → reported items →
findings → notices / bulletin — and these are the shapes it takes on the way. They carry no
database or I/O concerns, so parsers, connectors and renderers can be tested on their own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

__all__ = [
    "CANONICAL_STATUSES",
    "FIELDS",
    "Assignment",
    "Catalogue",
    "ContextBlock",
    "Finding",
    "FindingKind",
    "Item",
    "Plan",
    "ReportedItem",
    "Role",
    "SheetTable",
    "SubmissionRow",
]

#: The status vocabulary, in the order of progress. 未报送 is derived, never reported.
CANONICAL_STATUSES: tuple[str, ...] = ("未启动", "推进中", "滞后", "暂停", "已完成")

#: Canonical field names of a submission row and their Chinese column headings.
FIELDS: dict[str, str] = {
    "item_id": "任务编码",
    "number": "序号",
    "title": "工作任务",
    "unit": "填报单位",
    "role": "角色",
    "lead_unit": "牵头单位",
    "status": "完成状态",
    "progress": "完成进度(%)",
    "narrative": "本期进展情况",
    "problems": "存在问题",
    "next_steps": "下步计划",
    "coordination": "需协调事项",
    "reporter": "填报人",
    "phone": "联系电话",
}


class Role(StrEnum):
    LEAD = "牵头"
    CO = "配合"


@dataclass(frozen=True)
class Plan:
    """The plan document's identity: 文号, title, date."""

    doc_number: str
    title: str
    issued_on: date | None = None
    issuer: str | None = None


@dataclass(frozen=True)
class Assignment:
    """One unit named in an item's unit clause.

    ``unit`` is the directory's canonical short name once resolved (the raw text before);
    ``raw`` is always the text as written in the document.
    """

    unit: str
    role: Role
    position: int
    raw: str
    placeholder: bool = False


@dataclass(frozen=True)
class Item:
    """A task of the catalogue: a numbered ``N.`` task or an unnumbered paragraph with units."""

    id: str
    number: int | None
    part_key: str
    part_title: str
    section_key: str | None
    section_title: str | None
    title: str
    text: str
    assignments: tuple[Assignment, ...]
    deadline: str | None = None

    @property
    def part(self) -> str:
        return f"{self.part_key}、{self.part_title}"

    @property
    def section(self) -> str | None:
        if self.section_key is None:
            return None
        return f"{self.section_key}{self.section_title or ''}"

    @property
    def lead_units(self) -> list[str]:
        return [a.unit for a in self.assignments if a.role is Role.LEAD and not a.placeholder]

    @property
    def co_units(self) -> list[str]:
        return [a.unit for a in self.assignments if a.role is Role.CO and not a.placeholder]

    @property
    def placeholders(self) -> list[str]:
        return [a.raw for a in self.assignments if a.placeholder]

    @property
    def lead_unit(self) -> str | None:
        leads = self.lead_units
        return leads[0] if leads else None


@dataclass(frozen=True)
class ContextBlock:
    """A heading or paragraph kept for context that carries no units (e.g. 一、总体要求)."""

    part_key: str
    part_title: str
    section_key: str | None
    section_title: str | None
    text: str


@dataclass(frozen=True)
class Catalogue:
    plan: Plan
    items: tuple[Item, ...]
    context: tuple[ContextBlock, ...] = ()
    source_name: str = ""

    def content_hash(self) -> str:
        """Hash of everything that defines the catalogue; equal documents give one version."""
        payload = {
            "plan": {**asdict(self.plan), "issued_on": str(self.plan.issued_on)},
            "items": [
                {
                    **{k: v for k, v in asdict(i).items() if k != "assignments"},
                    "assignments": [(a.unit, str(a.role), a.raw, a.placeholder) for a in i.assignments],
                }
                for i in self.items
            ],
        }
        blob = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def item(self, item_id: str) -> Item:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)


@dataclass
class SubmissionRow:
    """One data row as read from a source: canonical field → raw cell value."""

    row: int
    values: dict[str, Any]


@dataclass
class SheetTable:
    """What a spreadsheet or API connector hands to the core.

    ``meta`` carries what the file says about itself (template metadata: unit, period,
    catalogue_version, template_version); ``unit_hint``/``period_hint`` what was found around
    the table (a ``填报单位：`` line, the file name).
    """

    source: str
    sheet: str | None
    header_row: int | None
    columns: dict[str, str]
    rows: list[SubmissionRow]
    meta: dict[str, str] = field(default_factory=dict)
    unit_hint: str | None = None
    period_hint: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class ReportedItem:
    """A validated, normalised row matched to a catalogue item."""

    item_id: str
    unit: str
    status: str | None
    progress: float | None
    narrative: str = ""
    problems: str = ""
    next_steps: str = ""
    coordination: str = ""
    reporter: str = ""
    phone: str = ""
    row: int | None = None
    sheet: str | None = None
    match_method: str = "id"
    match_score: float = 100.0


class FindingKind(StrEnum):
    MISSING = "missing"
    LATE = "late"
    UNEXPECTED = "unexpected"
    UNKNOWN_ITEM = "unknown_item"
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_PERIOD = "unknown_period"
    SUPERSEDED = "superseded"
    DUPLICATE = "duplicate"
    INVALID_VALUE = "invalid_value"
    LOW_CONFIDENCE = "low_confidence"
    UNREADABLE = "unreadable"
    STALLED = "stalled"
    REGRESSED = "regressed"
    CONFLICT = "conflict"


@dataclass
class Finding:
    """A problem or fact worth telling someone, with its evidence, in Chinese and English."""

    kind: FindingKind
    message_zh: str
    message_en: str
    unit: str | None = None
    item_id: str | None = None
    period: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
