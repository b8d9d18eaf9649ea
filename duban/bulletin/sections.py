"""The wording of each part of the 通报, from facts and metrics to paragraphs and tables.

Kept apart from ``model`` so the document types stay small and the Chinese text can be
reviewed in one place. Every number printed here is read from ``Metrics``.
"""

from __future__ import annotations

from collections.abc import Callable

from duban.bulletin.facts import PeriodFacts
from duban.bulletin.metrics import MISSING, STATUS_ORDER, LaggingItem, Metrics, StatusCounts, UnitRow, pct
from duban.bulletin.model import Attachment, Block, Column, Figure, Paragraph, Run, Style, Table, cn_date
from duban.bulletin.model import cn_number as cn
from duban.domain import Item

__all__ = [
    "DEFAULT_NEXT_STEPS",
    "UNIT_ROWS_MAX",
    "attachments",
    "item_label",
    "next_steps",
    "overview",
    "preamble",
    "problems",
    "progress",
    "unit_table",
]

DEFAULT_NEXT_STEPS = (
    "一是加快滞后任务推进。各牵头单位要对照附件2所列事项，逐项查找原因，明确整改措施和完成时限，确保按期完成。",
    "二是压实报送责任。各责任单位要严格按照时间节点报送进展情况，做到内容真实、数据准确；"
    "对迟报、漏报的单位，将在下期通报中继续予以说明。",
    "三是强化协同配合。配合单位要主动对接牵头单位，及时报送所承担任务的推进情况，共同推动各项任务落地见效。",
)


_PROBLEMS_IN_TEXT = 5  # up to this many items needing attention, the text quotes their problems
#: Default of ``bulletin.docx_unit_rows_max``: 附件1 lists every unit up to this many units; above,
#: only those needing attention, worst first, at most this many (the xlsx keeps every unit).
UNIT_ROWS_MAX = 150
#: A sentence of 三、存在问题 names at most this many units; above, the worst ones and the count.
_UNITS_IN_TEXT = 20
_SHEET_HINT = "全部单位的报送情况见电子表格附表“单位报送情况”工作表"


def item_label(item: Item) -> str:
    return f"任务{item.number}（{item.title}）" if item.number is not None else f"“{item.title}”"


def _counts_text(c: StatusCounts, *, shares: bool = False) -> str:
    """Overall (with shares) lists every bucket but an empty 暂停; per part only non-empty ones."""
    skip_zero = not shares
    parts = []
    for s in STATUS_ORDER:
        n = c.counts[s]
        if n == 0 and (skip_zero or s == "暂停"):
            continue
        name = "牵头单位未报送" if s == MISSING else s
        parts.append(f"{name}{n}项" + (f"，占{c.share(s)}" if shares else ""))
    return ("；" if shares else "、").join(parts)


def preamble(facts: PeriodFacts) -> list[Block]:
    plan = facts.catalogue.plan
    cite = f"《{plan.title}》" + (f"（{plan.doc_number}）" if plan.doc_number else "")
    office = facts.office_name or "领导小组办公室"
    return [
        Paragraph.of(
            f"为推动{cite}各项任务落到实处，{office}组织各责任单位报送了{facts.period_label}"
            f"任务推进情况（报送截止日期为{cn_date(facts.deadline)}），并对报送材料逐项汇总核对。"
            f"现将截至{cn_date(facts.as_of)}的有关情况通报如下："
        )
    ]


def _delta_text(m: Metrics) -> str | None:
    ch = m.change
    if ch is None:
        return None
    moves = [
        f"{'牵头单位未报送' if s == MISSING else s}{'增加' if d > 0 else '减少'}{abs(d)}项"
        for s, d in ch.delta.items()
        if d
    ]
    text = f"与{ch.previous_label}相比，" + ("、".join(moves) if moves else "各类事项数量均持平")
    if ch.newly_completed:
        nums = [it.item for it in m.items if it.item.id in ch.newly_completed]
        text += "（本期新完成：" + "、".join(item_label(i) for i in nums) + "）"
    if ch.timeliness_previous is not None:
        text += f"；按时报送率由上期的{ch.timeliness_previous * 100:.1f}%变为{m.timeliness * 100:.1f}%"
    return text + "。"


def overview(facts: PeriodFacts, m: Metrics, *, capped: bool = False) -> list[Block]:
    c = m.overall
    out: list[Block] = [
        Paragraph.of("一、总体情况", Style.HEADING1),
        Paragraph.of(f"本期纳入统计的工作任务共{c.total}项。其中，{_counts_text(c, shares=True)}。"),
    ]
    delta = _delta_text(m)
    if delta:
        out.append(Paragraph.of(delta))
    parts = [f"“{g.key}、{g.title}”共{g.counts.total}项，{_counts_text(g.counts)}" for g in m.by_part]
    if parts:
        out.append(Paragraph.of("分部分看，" + "；".join(parts) + "。各部分、各章节的统计见附件3。"))
    out.append(Figure("status_by_part", "图1 各部分任务状态"))
    out.append(
        Paragraph.of(
            f"报送方面，{len(m.units)}个责任单位应报送{m.expected}项，按时报送{m.on_time}项，"
            f"迟报{m.late}项，未报送{m.missing}项，按时报送率{pct(m.on_time, m.expected)}；"
            f"{m.invalid}项报送存在不合格数据。"
            + (f"报送情况需关注的单位见附件1，{_SHEET_HINT}。" if capped else "各单位报送情况见附件1。")
        )
    )
    return out


def progress(facts: PeriodFacts, m: Metrics) -> list[Block]:
    out: list[Block] = [Paragraph.of("二、主要进展", Style.HEADING1)]
    for n, g in enumerate(m.by_part, start=1):
        out.append(Paragraph.of(f"（{cn(n)}）{g.title}", Style.HEADING2))
        quoted = 0
        for it in m.items:
            if it.item.part_key != g.key or not it.narrative or it.status == MISSING:
                continue
            quoted += 1
            state = it.status + (f"，完成进度{it.progress:g}%" if it.progress is not None else "")
            out.append(
                Paragraph(
                    (
                        Run(f"{item_label(it.item)}。", bold=True),
                        Run(f"{it.lead_unit}："),
                        Run(f"{it.narrative.rstrip('。')}。（{state}）"),
                    )
                )
            )
        silent = [it for it in m.items if it.item.part_key == g.key and it.status == MISSING]
        if silent:
            names = "、".join(f"{item_label(it.item)}（牵头单位{it.lead_unit}）" for it in silent)
            out.append(Paragraph.of(f"{names}本期未报送进展情况。"))
        elif not quoted:
            out.append(Paragraph.of("本期牵头单位未报送该部分任务的进展情况。"))
    return out


def _lagging_phrase(lg: LaggingItem, *, with_problems: bool) -> str:
    text = f"{item_label(lg.item)}，牵头单位{lg.lead_unit}，{'、'.join(lg.reasons)}"
    if lg.problems and with_problems:
        text += f"，存在问题：{lg.problems.rstrip('。；;')}"
    return text


def problems(facts: PeriodFacts, m: Metrics) -> list[Block]:
    out: list[Block] = [Paragraph.of("三、存在问题", Style.HEADING1)]
    out.append(Paragraph.of("（一）部分任务推进滞后。", Style.HEADING2))
    if m.lagging:
        # A long list names the items only; their reported problems stay in 附件2.
        short = len(m.lagging) <= _PROBLEMS_IN_TEXT
        listed = "；".join(_lagging_phrase(lg, with_problems=short) for lg in m.lagging)
        out.append(Paragraph.of(f"本期有{len(m.lagging)}项任务需重点关注：{listed}。详见附件2。"))
    else:
        out.append(Paragraph.of("本期未发现滞后、暂停、连续两期无进展或进度倒退的任务。"))
    out.append(Paragraph.of("（二）部分单位报送不及时。", Style.HEADING2))
    late = [u for u in m.units if u.late]
    missing = [u for u in m.units if u.missing]
    if late or missing:
        said = []
        if late:
            names, top = _named(
                late,
                lambda u: f"{u.unit}（迟报{u.late}项，最长逾期{u.late_days_max}个工作日）",
                lambda u: (-u.late_days_max, -u.late, u.unit),
            )
            said.append(f"迟报的单位{len(late)}个" + (f"，逾期最长的{top}个：" if top else "：") + names)
        if missing:
            names, top = _named(
                missing, lambda u: f"{u.unit}（未报送{u.missing}项）", lambda u: (-u.missing, u.unit)
            )
            head = f"截至统计日仍未报送的单位{len(missing)}个"
            said.append(head + (f"，未报送最多的{top}个：" if top else "：") + names)
        out.append(Paragraph.of("；".join(said) + "。"))
    else:
        out.append(Paragraph.of("本期各责任单位均按时报送。"))
    out.append(Paragraph.of("（三）部分报送质量有待提高。", Style.HEADING2))
    bad = [u for u in m.units if u.invalid]
    if bad:
        names, top = _named(bad, lambda u: f"{u.unit}（{u.invalid}项）", lambda u: (-u.invalid, u.unit))
        lead = (
            f"{len(bad)}个单位报送内容存在无效数值，已逐项反馈相关单位，不合格最多的{top}个："
            if top
            else "以下单位报送内容存在无效数值，已逐项反馈相关单位："
        )
        out.append(Paragraph.of(lead + names + "。"))
    else:
        out.append(Paragraph.of("本期报送数据均通过校验。"))
    return out


def _named(
    units: list[UnitRow], phrase: Callable[[UnitRow], str], worst_first: Callable[[UnitRow], tuple]
) -> tuple[str, int]:
    """Every unit in rank order while there are few; else the worst ``_UNITS_IN_TEXT`` and "等".

    Returns the names and how many were picked (0 when all are named), so a province's
    bulletin does not print thousands of names in its body text.
    """
    if len(units) <= _UNITS_IN_TEXT:
        return "、".join(phrase(u) for u in units), 0
    top = sorted(units, key=worst_first)[:_UNITS_IN_TEXT]
    return "、".join(phrase(u) for u in top) + "等", len(top)


def next_steps(facts: PeriodFacts) -> list[Block]:
    text = facts.next_steps_text
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()] if text else list(DEFAULT_NEXT_STEPS)
    return [Paragraph.of("四、下一步工作", Style.HEADING1), *(Paragraph.of(ln) for ln in lines)]


def needs_attention(u: UnitRow) -> bool:
    """A unit the office follows up: something missing, late or invalid."""
    return bool(u.missing or u.late or u.invalid)


def unit_table(m: Metrics, units: list[UnitRow] | None = None) -> Table:
    """附件1's table: every unit in rank order and their 合计; or only ``units``, without a total
    (the totals of all units are in 一、总体情况 and in the spreadsheet)."""
    cols = (
        Column("排名", "int", 13),  # four digits at province scale
        Column("单位", "text", 33),
        Column("应报", "int", 10),
        Column("按时报送", "int", 13),
        Column("迟报", "int", 10),
        Column("最长逾期(工作日)", "int", 15),
        Column("未报", "int", 10),
        Column("不合格", "int", 11),
        Column("按时报送率", "pct", 18),
        Column("评级", "stars", 23),
    )
    rows: list[tuple[object, ...]] = [
        (
            u.rank,
            u.unit,
            u.expected,
            u.on_time,
            u.late,
            u.late_days_max,
            u.missing,
            u.invalid,
            u.timeliness,
            u.stars,
        )
        for u in (m.units if units is None else units)
    ]
    if units is not None:
        return Table("units", cols, tuple(rows))
    worst = max((u.late_days_max for u in m.units), default=0)
    rows.append(("", "合计", m.expected, m.on_time, m.late, worst, m.missing, m.invalid, m.timeliness, None))
    return Table("units", cols, tuple(rows), bold_rows=(len(rows) - 1,))


def _lagging_table(m: Metrics) -> Table:
    cols = (
        Column("序号", "int", 10),
        Column("任务", "text", 36),
        Column("牵头单位", "text", 22),
        Column("状态", "text", 14),
        Column("进度", "progress", 14),
        Column("关注原因", "text", 26),
        Column("存在问题", "text", 34),
    )
    rows = tuple(
        (n, item_label(lg.item), lg.lead_unit, lg.status, lg.progress, "、".join(lg.reasons), lg.problems)
        for n, lg in enumerate(m.lagging, start=1)
    )
    return Table("lagging", cols, rows)


def _group_table(m: Metrics) -> Table:
    cols = (
        Column("部分／章节", "text", 58),
        Column("合计", "int", 14),
        *(Column(s, "int", 14) for s in STATUS_ORDER),
    )
    rows: list[tuple[object, ...]] = []
    bold: list[int] = []
    for g in m.by_part:
        bold.append(len(rows))
        rows.append((g.part, g.counts.total, *(g.counts.counts[s] for s in STATUS_ORDER)))
        for sec in m.by_section:
            if sec.part == g.part and sec.key:
                rows.append((sec.title, sec.counts.total, *(sec.counts.counts[s] for s in STATUS_ORDER)))
    bold.append(len(rows))
    rows.append(("合计", m.overall.total, *(m.overall.counts[s] for s in STATUS_ORDER)))
    return Table("groups", cols, tuple(rows), bold_rows=tuple(bold))


def _unit_attachment(m: Metrics, cap: int) -> Attachment:
    """附件1: every unit while there are at most ``cap``; else the units needing attention.

    Leaders read the document, the operations team filters the spreadsheet: at province scale a
    5,000-row table is ~150 pages nobody reads (and LibreOffice needs minutes to lay it out), so
    the document lists the flagged units worst first (lowest rank), up to ``cap``, and says so.
    """
    figure = Figure("unit_timeliness", "图2 各单位按时报送率")
    if len(m.units) <= cap:
        return Attachment(1, "units", "各单位报送情况表", (figure, unit_table(m)))
    flagged = [u for u in reversed(m.units) if needs_attention(u)]
    listed = flagged[:cap]
    if not flagged:
        text = f"本期{len(m.units)}个责任单位均按时报送，报送数据均通过校验；{_SHEET_HINT}。"
        return Attachment(1, "units", "需关注单位报送情况表", (figure, Paragraph.of(text)))
    which = (
        f"下表按排名由后往前列出其中排名最后的{len(listed)}个单位"
        if len(listed) < len(flagged)
        else "下表按排名由后往前列出这些单位"
    )
    text = (
        f"本期共有{len(m.units)}个责任单位，其中{len(flagged)}个单位存在未报送、迟报或不合格情况。"
        f"{which}；全部单位的合计见正文“一、总体情况”，{_SHEET_HINT}。"
    )
    table = unit_table(m, listed)
    return Attachment(1, "units", "需关注单位报送情况表", (figure, Paragraph.of(text), table))


def attachments(facts: PeriodFacts, m: Metrics, *, unit_rows_max: int = UNIT_ROWS_MAX) -> list[Attachment]:
    lag_blocks: tuple[Block, ...] = (_lagging_table(m),)
    if not m.lagging:
        lag_blocks = (Paragraph.of("本期无需重点关注的事项。"), *lag_blocks)
    return [
        _unit_attachment(m, unit_rows_max),
        Attachment(2, "lagging", "需重点关注事项清单", lag_blocks),
        Attachment(3, "groups", "各部分任务状态统计表", (_group_table(m),)),
    ]
