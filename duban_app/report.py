"""What a collection did, in counts: the CLI's closing table and the flows' return value."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["CollectReport"]


@dataclass
class CollectReport:
    """Counts of one collection (or of one file of it); reports add up with ``merge``.

    Example:
        >>> total = CollectReport()
        >>> total.merge(CollectReport(files=1, submissions_new=1, items_accepted=12)).items_accepted
        12
    """

    files: int = 0
    tables: int = 0
    submissions_new: int = 0
    submissions_known: int = 0
    quarantined: int = 0
    items_accepted: int = 0
    api_records_new: int = 0
    api_records_known: int = 0
    findings: Counter[str] = field(default_factory=Counter)

    def merge(self, other: CollectReport) -> CollectReport:
        for f in fields(self):
            if f.name != "findings":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.findings.update(other.findings)
        return self

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "findings"}
        d["findings"] = dict(self.findings)
        return d
