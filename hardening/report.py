"""Campaign results and the RELIABILITY.md table they end up in.

A result says what was tried, how many trials ran, how many things were lost or duplicated
(and how many duplicates the promise allows: email has no exactly-once, so a crash may
repeat the one message in flight), the problems found, and how long it ran. ``make soak``
rewrites only the part of RELIABILITY.md between the markers, so the prose around the
figures is kept.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

__all__ = ["BEGIN", "END", "CampaignResult", "render_table", "write_reliability"]

BEGIN = "<!-- soak:begin (written by `make soak`; edits inside are overwritten) -->"
END = "<!-- soak:end -->"


@dataclass
class CampaignResult:
    """The figures of one campaign."""

    name: str
    tried: str
    trials: int = 0
    lost: int = 0
    duplicated: int = 0
    allowed_duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # figures for tests and tools (kills landed …)

    @property
    def ok(self) -> bool:
        return not self.problems and self.lost == 0 and self.duplicated <= self.allowed_duplicates

    def problem(self, text: str) -> None:
        """Record a violated promise (kept short: the first line of it)."""
        self.problems.append(text.splitlines()[0][:400] if text else "(empty)")

    def summary(self) -> str:
        verdict = "ok" if self.ok else f"FAILED ({len(self.problems)} problem(s))"
        return (
            f"{self.name}: {self.trials} trial(s), lost {self.lost}, duplicated {self.duplicated}"
            f" (allowed {self.allowed_duplicates}), {self.seconds:.1f}s — {verdict}"
        )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(results: list[CampaignResult]) -> str:
    """A Markdown table, one row per campaign."""
    lines = [
        "| campaign | what was tried | trials | lost | duplicated (allowed) | problems | time (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {_cell(r.name)} | {_cell(r.tried)} | {r.trials} | {r.lost} | "
            f"{r.duplicated} ({r.allowed_duplicates}) | {len(r.problems)} | {r.seconds:.1f} |"
        )
    return "\n".join(lines)


def _details(results: list[CampaignResult]) -> str:
    out: list[str] = []
    for r in results:
        if not r.notes and not r.problems:
            continue
        out.append(f"**{r.name}**")
        out += [f"- {_cell(n)}" for n in r.notes]
        out += [f"- PROBLEM: {_cell(p)}" for p in r.problems[:20]]
        if len(r.problems) > 20:
            out.append(f"- … and {len(r.problems) - 20} more problem(s)")
        out.append("")
    return "\n".join(out)


def write_reliability(path: Path, results: list[CampaignResult], *, total_seconds: float) -> Path:
    """Replace the figures between the markers of ``path`` (create the file if needed)."""
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    block = "\n".join(
        [
            BEGIN,
            "",
            f"Last `make soak`: {stamp} on {platform.machine()} with {os.cpu_count()} CPU(s), "
            f"Python {platform.python_version()}; total {total_seconds / 60:.1f} min. "
            f"Verdict: {'all campaigns held' if all(r.ok for r in results) else 'SOME CAMPAIGNS FAILED'}.",
            "",
            render_table(results),
            "",
            _details(results),
            END,
        ]
    )
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "# Reliability\n\n") + block + "\n"
    path.write_text(text, encoding="utf-8")
    return path
