"""write_bulletin: metrics once, 附件1's length from the settings, files kept while the facts hold."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from docx import Document

import duban.bulletin
import duban_app.summary
from duban.settings import get_settings
from duban_app.context import AppContext
from duban_app.summary import write_bulletin
from tests.test_bulletin_scale import many_units


@pytest.fixture
def facts(monkeypatch: pytest.MonkeyPatch):
    """The period's facts come from here instead of the store; returns a box to change them."""
    box = {"facts": many_units(40)}
    monkeypatch.setattr(duban_app.summary, "period_facts", lambda ctx, key, as_of=None: box["facts"])
    return box


@pytest.fixture
def metric_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = duban.bulletin.compute_metrics

    def counted(facts, rating):
        calls.append(facts.period_key)
        return real(facts, rating)

    monkeypatch.setattr(duban_app.summary, "compute_metrics", counted)
    monkeypatch.setattr(duban.bulletin, "compute_metrics", counted)
    return calls


def test_metrics_once_and_the_cap_from_the_settings(
    facts, metric_calls: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUBAN_BULLETIN__DOCX_UNIT_ROWS_MAX", "5")
    get_settings.cache_clear()
    ctx = AppContext()
    res = write_bulletin(ctx, "2026Q4", tmp_path / "out", pdf=False)
    assert metric_calls == ["2026Q4"]
    rows = Document(str(res.files["docx"])).tables[0].rows
    assert len(rows) == 1 + 5  # header, the 5 units needing most attention
    assert rows[1].cells[1].text == res.metrics.units[-1].unit  # the last in rank comes first
    assert len(res.metrics.units) == 44
    ctx.close()


def test_files_are_kept_until_a_printed_fact_changes(facts, tmp_path: Path) -> None:
    ctx = AppContext()
    first = write_bulletin(ctx, "2026Q4", tmp_path / "out", pdf=False)
    stamp = first.files["xlsx"].stat().st_mtime_ns
    again = write_bulletin(ctx, "2026Q4", tmp_path / "out", pdf=False)
    assert again.inputs_hash == first.inputs_hash
    assert again.files["xlsx"].stat().st_mtime_ns == stamp  # kept, not rewritten
    old = facts["facts"]
    changed = [replace(f, problems="资金仍未到位") if f.problems else f for f in old.assignments]
    facts["facts"] = replace(old, assignments=changed)  # only the reported problems differ
    third = write_bulletin(ctx, "2026Q4", tmp_path / "out", pdf=False)
    assert third.inputs_hash != first.inputs_hash
    assert third.files["xlsx"].stat().st_mtime_ns != stamp
    ctx.close()
