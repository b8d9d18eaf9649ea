"""The quarterly bulletin (季度通报): metrics, one document model, and its renderers.

Pure functions over plain inputs: the caller builds ``PeriodFacts`` from the store;
``compute_metrics`` counts, ``build_bulletin`` words the document once, and the renderers
lay it out as docx (GB/T 9704 layout), PDF (LibreOffice), HTML and an xlsx appendix, with
charts. ``write_summary`` does all of it into one folder with deterministic file names.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from duban.bulletin.charts import render_charts
from duban.bulletin.docx import render_docx
from duban.bulletin.facts import AssignmentFact, PeriodFacts
from duban.bulletin.html import render_html
from duban.bulletin.metrics import Metrics, compute_metrics
from duban.bulletin.model import Bulletin, build_bulletin
from duban.bulletin.pdf import convert_to_pdf
from duban.bulletin.xlsx import render_xlsx

if TYPE_CHECKING:
    from duban.settings import RatingConfig

__all__ = [
    "AssignmentFact",
    "Bulletin",
    "Metrics",
    "PeriodFacts",
    "build_bulletin",
    "compute_metrics",
    "convert_to_pdf",
    "ledger_rows",
    "render_charts",
    "render_docx",
    "render_html",
    "render_xlsx",
    "summary_paths",
    "write_summary",
]

log = logging.getLogger(__name__)


def ledger_rows(facts: PeriodFacts) -> list[dict]:
    """The period's ledger (台账), one row per expected (item, unit), Chinese column names."""
    rows = []
    for f in facts.assignments:
        try:
            item = facts.catalogue.item(f.item_id)
        except KeyError:
            item = None
        rows.append(
            {
                "任务编码": f.item_id,
                "序号": item.number if item else None,
                "工作任务": item.title if item else "",
                "所属部分": item.part if item else "",
                "所属章节": (item.section or "") if item else "",
                "责任单位": f.unit,
                "单位全称": facts.unit_names.get(f.unit, f.unit),
                "角色": f.role,
                "完成状态": f.status or "未报送",
                "完成进度(%)": f.progress,
                "本期进展情况": f.narrative,
                "存在问题": f.problems,
                "下步计划": f.next_steps,
                "报送时间": f.submitted_at,
                "迟报(工作日)": f.late_days if f.late else None,
                "不合格数": f.invalid,
                "连续无进展": f.stalled,
                "进度倒退": f.regressed,
            }
        )
    return rows


def summary_paths(period_key: str, out_dir: Path) -> dict[str, Path]:
    """The deterministic file names of a period's bulletin outputs."""
    out_dir = Path(out_dir)
    stem = f"{period_key}_季度通报"
    return {
        "docx": out_dir / f"{stem}.docx",
        "pdf": out_dir / f"{stem}.pdf",
        "html": out_dir / f"{stem}.html",
        "xlsx": out_dir / f"{stem}附表.xlsx",
    }


def write_summary(
    facts: PeriodFacts,
    rating: RatingConfig,
    out_dir: Path,
    *,
    issued_on: date | None = None,
    ledger: list[dict] | None = None,
    pdf: bool = True,
) -> dict[str, Path]:
    """Write every bulletin output of the period into ``out_dir``.

    Keys: ``docx``, ``html``, ``xlsx``, ``chart_status_by_part``, ``chart_unit_timeliness``,
    and ``pdf`` when LibreOffice converted it (otherwise the reason is logged).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = summary_paths(facts.period_key, out_dir)
    metrics = compute_metrics(facts, rating)
    bulletin = build_bulletin(facts, metrics, issued_on=issued_on)
    charts = render_charts(metrics, out_dir)
    out: dict[str, Path] = {"docx": render_docx(bulletin, paths["docx"], charts)}
    paths["html"].write_text(render_html(bulletin, charts), encoding="utf-8")
    out["html"] = paths["html"]
    out["xlsx"] = render_xlsx(bulletin, ledger if ledger is not None else ledger_rows(facts), paths["xlsx"])
    out.update({f"chart_{k}": v for k, v in charts.items()})
    if pdf:
        converted = convert_to_pdf(out["docx"], out_dir)
        if converted is not None:
            out["pdf"] = converted
        else:
            log.warning("bulletin %s written without PDF (see the previous message)", facts.period_key)
    return out
