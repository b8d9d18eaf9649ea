"""The ledger (台账): one row per expected (item, unit) with what was reported and found.

It is the working document of the operations team and the appendix of the bulletin, so
its numbers come from the same reconciliation the status table uses.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import xlsxwriter
from sqlalchemy import bindparam, select

from duban.domain import Catalogue, FindingKind
from duban.reconcile import Entry, expected_pairs
from duban.store.db import Store
from duban.store.fetch import plain_rows
from duban.store.models import FindingRow, SubmissionRow

__all__ = ["LEDGER_COLUMNS", "invalid_values", "ledger_rows", "period_findings", "write_ledger"]

LEDGER_COLUMNS = [
    "任务编码",
    "序号",
    "工作任务",
    "所属部分",
    "单位",
    "角色",
    "完成状态",
    "完成进度(%)",
    "本期进展情况",
    "存在问题",
    "下步计划",
    "报送时间",
    "逾期工作日",
    "问题与提示",
]
STATUS_COLOURS = {
    "已完成": "#C6EFCE",
    "推进中": "#DDEBF7",
    "滞后": "#FFC7CE",
    "暂停": "#FCE4D6",
    "未启动": "#EDEDED",
    "未报送": "#FFEB9C",
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _current(q: Any, period: Any) -> Any:
    """Findings of ``period`` not from a superseded submission (reconciliation's have none)."""
    return (
        q.outerjoin(SubmissionRow, SubmissionRow.id == FindingRow.submission_id)
        .where(FindingRow.period == period)
        .where((FindingRow.submission_id.is_(None)) | (SubmissionRow.state != "superseded"))
        .order_by(FindingRow.id)
    )


def period_findings(
    store: Store,
    period: str,
    *,
    unit: str | None = None,
    kind: str | None = None,
    origin: str | None = None,
) -> list[FindingRow]:
    """Findings of the period from accepted (or quarantined) submissions and from reconciliation.

    ``unit``, ``kind`` and ``origin`` narrow the list.
    """
    q = _current(select(FindingRow), period)
    if unit is not None:
        q = q.where(FindingRow.unit == unit)
    if kind is not None:
        q = q.where(FindingRow.kind == kind)
    if origin is not None:
        q = q.where(FindingRow.origin == origin)
    with store.session() as s:
        return list(s.scalars(q))


def _invalid_query(one_unit: bool) -> Any:
    f = FindingRow
    q = _current(select(f.unit, f.item_id, f.evidence, f.message_zh), bindparam("period")).where(
        f.kind == str(FindingKind.INVALID_VALUE), f.origin == "collect", f.unit.is_not(None)
    )
    return q.where(f.unit == bindparam("unit")) if one_unit else q


def invalid_values(
    store: Store, period: str, *, unit: str | None = None
) -> list[tuple[str, str | None, dict[str, Any], str]]:
    """(unit, item id, evidence, message) of collection's invalid values in the period (of one unit).

    The notices read these once per unit right before sending, so as plain rows.
    """
    with store.engine.connect() as conn:
        rows = plain_rows(
            conn,
            ("invalid_values", unit is not None),
            lambda: _invalid_query(unit is not None),
            {"period": period, "unit": unit},
        )
    return [(u, i, (json.loads(ev) if isinstance(ev, str | bytes) else ev) or {}, m) for u, i, ev, m in rows]


def ledger_rows(
    catalogue: Catalogue,
    entries: dict[tuple[str, str], Entry],
    findings: list[FindingRow],
    *,
    deadline: date,
    late_days: Any = None,
) -> list[dict[str, Any]]:
    """Rows keyed by LEDGER_COLUMNS; ``late_days(received_date) -> int`` counts working days late."""
    notes: dict[tuple[str | None, str | None], list[str]] = defaultdict(list)
    for f in findings:
        notes[(f.unit, f.item_id)].append(f.message_zh)
    items = {it.id: it for it in catalogue.items}
    rows = []
    for item_id, unit, role in expected_pairs(catalogue):
        it = items[item_id]
        e = entries.get((unit, item_id))
        received = e.received_at.date() if e else None
        late = late_days(received) if (late_days and received and received > deadline) else None
        rows.append(
            {
                "任务编码": item_id,
                "序号": it.number,
                "工作任务": it.title,
                "所属部分": it.part,
                "单位": unit,
                "角色": str(role),
                "完成状态": (e.status or "未填") if e else "未报送",
                "完成进度(%)": e.progress if e else None,
                "本期进展情况": e.narrative if e else "",
                "存在问题": e.problems if e else "",
                "下步计划": e.next_steps if e else "",
                "报送时间": e.received_at.strftime("%Y-%m-%d %H:%M") if e else "",
                "逾期工作日": late,
                "问题与提示": "；".join(notes.get((unit, item_id), [])),
            }
        )
    return rows


def write_ledger(rows: list[dict[str, Any]], path: Path, *, title: str = "台账") -> Path:
    """An .xlsx with a frozen header, filters and rows coloured by status; formula-safe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    ws = wb.add_worksheet(title[:31])
    head = wb.add_format(
        {"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "text_wrap": True, "border": 1}
    )
    fmts = {
        k: wb.add_format({"bg_color": c, "text_wrap": True, "valign": "top", "border": 1})
        for k, c in STATUS_COLOURS.items()
    }
    plain = wb.add_format({"text_wrap": True, "valign": "top", "border": 1})
    # text that looks like a formula also gets Excel's quote prefix, so it stays text when edited
    quote = {"text_wrap": True, "valign": "top", "border": 1, "quote_prefix": True}
    quoted = {k: wb.add_format({**quote, "bg_color": c}) for k, c in STATUS_COLOURS.items()}
    plain_quoted = wb.add_format(quote)
    widths = [10, 6, 30, 18, 14, 6, 10, 10, 40, 24, 24, 16, 10, 40]
    for c, (name, w) in enumerate(zip(LEDGER_COLUMNS, widths, strict=True)):
        ws.write_string(0, c, name, head)
        ws.set_column(c, c, w)
    for r, row in enumerate(rows, start=1):
        fmt = fmts.get(row.get("完成状态", ""), plain)
        fmt_quoted = quoted.get(row.get("完成状态", ""), plain_quoted)
        for c, name in enumerate(LEDGER_COLUMNS):
            v = row.get(name)
            if v is None or v == "":
                ws.write_blank(r, c, None, fmt)
            elif isinstance(v, int | float) and not isinstance(v, bool):
                ws.write_number(r, c, v, fmt)
            else:  # write_string never makes a formula
                text = str(v)
                ws.write_string(r, c, text, fmt_quoted if text.startswith(FORMULA_PREFIXES) else fmt)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(rows), 1), len(LEDGER_COLUMNS) - 1)
    wb.close()
    return path
