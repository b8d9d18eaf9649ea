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
from duban.bulletin.pdf import convert_to_pdf, start_pdf
from duban.bulletin.xlsx import LedgerTable, render_xlsx

if TYPE_CHECKING:
    from duban.settings import RatingConfig

__all__ = [
    "LEDGER_COLUMNS",
    "AssignmentFact",
    "Bulletin",
    "LedgerTable",
    "Metrics",
    "PeriodFacts",
    "build_bulletin",
    "compute_metrics",
    "convert_to_pdf",
    "ledger_rows",
    "ledger_table",
    "render_charts",
    "render_docx",
    "render_html",
    "render_xlsx",
    "summary_paths",
    "write_summary",
]

log = logging.getLogger(__name__)


LEDGER_COLUMNS = (
    "任务编码",
    "序号",
    "工作任务",
    "所属部分",
    "所属章节",
    "责任单位",
    "单位全称",
    "角色",
    "完成状态",
    "完成进度(%)",
    "本期进展情况",
    "存在问题",
    "下步计划",
    "报送时间",
    "迟报(工作日)",
    "不合格数",
    "连续无进展",
    "进度倒退",
)


def ledger_table(facts: PeriodFacts) -> LedgerTable:
    """The period's ledger (台账), one row per expected (item, unit), as tuples in LEDGER_COLUMNS order.

    Tuples, not dicts: at province scale (200,000 rows) a dict per row costs seconds and ~250 MB.
    Empty texts are ``None`` (blank cells); ``AssignmentFact.late`` is spelled out inline.
    """
    items = {it.id: (it.number, it.title, it.part, it.section or None) for it in facts.catalogue.items}
    unknown = (None, None, None, None)
    names = facts.unit_names
    rows = [
        (
            f.item_id,
            *items.get(f.item_id, unknown),
            f.unit,
            names.get(f.unit, f.unit),
            f.role,
            f.status or "未报送",
            f.progress,
            f.narrative or None,
            f.problems or None,
            f.next_steps or None,
            f.submitted_at,
            f.late_days
            if (f.late_days or 0) > 0 and (f.submitted_at is not None or f.status is not None)
            else None,
            f.invalid,
            f.stalled,
            f.regressed,
        )
        for f in facts.assignments
    ]
    return LedgerTable(LEDGER_COLUMNS, rows)


def ledger_rows(facts: PeriodFacts) -> list[dict]:
    """The period's ledger (台账), one row per expected (item, unit), Chinese column names."""
    return [dict(zip(LEDGER_COLUMNS, row, strict=True)) for row in ledger_table(facts).rows]


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
    ledger: list[dict] | LedgerTable | None = None,
    pdf: bool = True,
    metrics: Metrics | None = None,
    unit_rows_max: int | None = None,
) -> dict[str, Path]:
    """Write every bulletin output of the period into ``out_dir``.

    Keys: ``docx``, ``html``, ``xlsx``, ``chart_status_by_part``, ``chart_unit_timeliness``,
    and ``pdf`` when LibreOffice converted it (otherwise the reason is logged). ``metrics``
    (when the caller has them already) are not computed again; ``unit_rows_max`` bounds 附件1
    of the documents (see ``build_bulletin``). LibreOffice converts the docx while the HTML
    and the xlsx are written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = summary_paths(facts.period_key, out_dir)
    metrics = metrics if metrics is not None else compute_metrics(facts, rating)
    bulletin = build_bulletin(facts, metrics, issued_on=issued_on, unit_rows_max=unit_rows_max)
    charts = render_charts(metrics, out_dir)
    out: dict[str, Path] = {"docx": render_docx(bulletin, paths["docx"], charts)}
    job = start_pdf(out["docx"], out_dir) if pdf else None
    try:
        paths["html"].write_text(render_html(bulletin, charts), encoding="utf-8")
        out["html"] = paths["html"]
        table = ledger if ledger is not None else ledger_table(facts)
        out["xlsx"] = render_xlsx(bulletin, table, paths["xlsx"])
        out.update({f"chart_{k}": v for k, v in charts.items()})
    except BaseException:
        if job is not None:
            job.cancel()  # no LibreOffice left running for a bulletin that failed
        raise
    converted = job.result() if job is not None else None
    if converted is not None:
        out["pdf"] = converted
    elif pdf:
        log.warning("bulletin %s written without PDF (see the previous message)", facts.period_key)
    return out
