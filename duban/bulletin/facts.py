"""The bulletin's inputs: plain facts about one period, filled by the caller from the store.

The bulletin code never reads the store or the settings itself. The CLI or a flow gathers
every expected (item, unit) pair of the period into these frozen dataclasses, so metrics and
renderers are pure functions that tests can feed with a hand-made quarter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from duban.domain import Catalogue

__all__ = ["AssignmentFact", "PeriodFacts"]


@dataclass(frozen=True)
class AssignmentFact:
    """What one unit reported (or did not) on one item in the period.

    ``status`` is the canonical status reported, ``None`` when nothing usable was reported;
    ``late_days`` counts working days after the deadline (``None`` when on time or missing);
    ``invalid`` is the number of invalid-value findings on this (item, unit).
    """

    item_id: str
    unit: str
    role: str  # "牵头" | "配合"
    status: str | None
    progress: float | None
    narrative: str
    problems: str
    next_steps: str
    submitted_at: datetime | None
    late_days: int | None
    invalid: int
    stalled: bool
    regressed: bool

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None or self.status is not None

    @property
    def late(self) -> bool:
        return self.submitted and self.late_days is not None and self.late_days > 0

    @property
    def on_time(self) -> bool:
        return self.submitted and not self.late


@dataclass(frozen=True)
class PeriodFacts:
    """Everything the bulletin of one period says, and nothing it has to look up."""

    catalogue: Catalogue
    period_key: str  # "2026Q4"
    period_label: str  # "2026年第四季度"
    deadline: date
    as_of: date
    assignments: list[AssignmentFact]  # every expected (item, unit) pair, placeholders excluded
    previous: PeriodFacts | None = None
    unit_names: dict[str, str] = field(default_factory=dict)  # short → full official name
    office_name: str = ""
    next_steps_text: str | None = None  # editable 四、下一步工作; None → a default text
