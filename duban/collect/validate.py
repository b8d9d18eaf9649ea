"""From a read table to reported items and findings: match each row to a task, check its values.

Each problem becomes a finding addressed to the unit with row, column, value and what was
expected, in Chinese for the unit and English for the logs, and nothing is dropped: a row
with a bad value still yields its ReportedItem (the bad field ``None``); the lead marks it
invalid when an INVALID_VALUE finding names its row (``invalid_rows``).

Matching a row to a catalogue item: by 任务编码 (item id), else by 序号 (1, "1.", "任务1"),
else by 工作任务 (the title, rapidfuzz WRatio against the item's title and full text;
``accept`` ≤ score → matched, ``suggest`` ≤ score < ``accept`` → LOW_CONFIDENCE and the row
is not accepted, below → UNKNOWN_ITEM). A 序号 is only trusted when the row's title does not
contradict it: units renumber their own lists 1..n, so when the title scores below
``suggest`` against the numbered item and matches another item by title, the title wins.

Checks: status in the vocabulary and present; progress 0–100; 已完成 with progress below 100
is an inconsistent pair (finding, values kept); a narrative is required unless 已完成. Rows
blank in all report fields (an untouched template row) are skipped silently. Two rows for
one item: the last is kept, with a DUPLICATE finding.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz, process

from duban.collect.vocab import (
    PROGRESS_OF_TEXT,
    STATUS_OF_TEXT,
    cell_text,
    is_blank,
    normalise_progress,
    normalise_status,
    parse_number,
    status_expected_zh,
)
from duban.domain import (
    FIELDS,
    Catalogue,
    Finding,
    FindingKind,
    Item,
    ReportedItem,
    SheetTable,
    SubmissionRow,
)

__all__ = ["REPORT_FIELDS", "cell_text", "invalid_rows", "parse_number", "validate_table"]

#: Fields whose content makes a row a report; a row blank in all of them is an untouched row.
REPORT_FIELDS: tuple[str, ...] = ("status", "progress", "narrative", "problems", "next_steps", "coordination")
_DONE = "已完成"
_BLANK = " \t\r\n\u3000"  # what ``is_blank`` strips
_UNSURE = object()
_ID_TEXTS_MAX = 65536


def invalid_rows(findings: list[Finding]) -> set[int]:
    """Rows named by an INVALID_VALUE finding: their SubmissionItemRow.valid is False."""
    return {
        int(f.evidence["row"])
        for f in findings
        if f.kind is FindingKind.INVALID_VALUE and f.evidence.get("row") is not None
    }


def _filled(value: Any) -> bool:
    """Not blank (see ``is_blank``), with the common cases first."""
    if value is None:
        return False
    if value.__class__ is str:
        return bool(value.strip(_BLANK))
    return not is_blank(value)


def _norm_title(text: str) -> str:
    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    return re.sub(r"^(?:任务)?[（(]?\d{1,4}[）)]?[.、]", "", s)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


@dataclass
class _Match:
    item: Item | None
    method: str
    score: float
    finding: Finding | None = None


class _Matcher:
    def __init__(self, catalogue: Catalogue, accept: float, suggest: float) -> None:
        self.items = catalogue.items
        self.accept, self.suggest = accept, suggest
        self.by_id = {self._id(i.id): i for i in catalogue.items}
        self.by_number = {i.number: i for i in catalogue.items if i.number is not None}
        #: item id cells as written → their item, filled as rows match by id (units write the same
        #: few hundred ids in every file: one dict lookup instead of normalising each cell)
        self.id_texts: dict[str, Item] = {}
        self.choices: list[str] = []
        self.owner: list[Item] = []
        for it in catalogue.items:
            for text in {_norm_title(it.title), _norm_title(it.text)}:
                if text:
                    self.choices.append(text)
                    self.owner.append(it)

    @staticmethod
    def _id(value: Any) -> str:
        return _item_key(value if value.__class__ is str else str(value))

    def by_title(self, title: str) -> list[tuple[Item, float]]:
        """Best score per item, best first."""
        best: dict[str, tuple[Item, float]] = {}
        for _, score, idx in process.extract(
            _norm_title(title), self.choices, scorer=fuzz.WRatio, limit=8, score_cutoff=0
        ):
            it = self.owner[idx]
            if it.id not in best or score > best[it.id][1]:
                best[it.id] = (it, float(score))
        return sorted(best.values(), key=lambda p: -p[1])

    def title_score(self, title: str, item: Item) -> float:
        q = _norm_title(title)
        return max(fuzz.WRatio(q, _norm_title(item.title)), fuzz.WRatio(q, _norm_title(item.text)))


@lru_cache(maxsize=8192)
def _item_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


_MATCHERS: dict[tuple[int, float, float], tuple[Catalogue, _Matcher]] = {}


def _matcher(catalogue: Catalogue, accept: float, suggest: float) -> _Matcher:
    """The catalogue's matcher, built once (a catalogue is immutable; keyed by identity)."""
    key = (id(catalogue), accept, suggest)
    hit = _MATCHERS.get(key)
    if hit is None or hit[0] is not catalogue:
        if len(_MATCHERS) >= 8:
            _MATCHERS.clear()
        hit = _MATCHERS[key] = (catalogue, _Matcher(catalogue, accept, suggest))
    return hit[1]


def _finding(
    kind: FindingKind, zh: str, en: str, ctx: dict[str, Any], item_id: str | None, **ev: Any
) -> Finding:
    evidence = {"row": ctx["row"], "sheet": ctx["sheet"], **{k: _jsonable(v) for k, v in ev.items()}}
    return Finding(kind, zh, en, unit=ctx["unit"], item_id=item_id, period=ctx["period"], evidence=evidence)


def _match(row: SubmissionRow, m: _Matcher, ctx: dict[str, Any], col: Any) -> _Match:
    v = row.values
    n = ctx["row"]
    raw_id, raw_no, title = v.get("item_id"), v.get("number"), cell_text(v.get("title"))
    if not is_blank(raw_id) and (it := m.by_id.get(m._id(raw_id))):
        if raw_id.__class__ is str:
            if len(m.id_texts) >= _ID_TEXTS_MAX:
                m.id_texts.clear()
            m.id_texts[raw_id] = it
        return _Match(it, "id", 100.0)
    number = parse_number(raw_no)
    if number is not None and (it := m.by_number.get(number)):
        if not title or m.title_score(title, it) >= m.suggest:
            return _Match(it, "number", 100.0)
        ranked = m.by_title(title)
        if ranked and ranked[0][1] >= m.accept and ranked[0][0].id != it.id:
            return _Match(ranked[0][0], "title", ranked[0][1])
        return _Match(it, "number", 100.0)
    if not title:
        shown = cell_text(raw_id) or cell_text(raw_no)
        if shown:
            zh = f"第{n}行的任务编码/序号“{shown}”在任务清单中找不到"
            en = f"row {n}: item id/number {shown!r} is not in the catalogue"
        else:
            zh = f"第{n}行未填写任务编码、序号或工作任务，无法对应到任务清单中的任务"
            en = f"row {n}: no item id, number or title, the row cannot be matched to a task"
        f = _finding(FindingKind.UNKNOWN_ITEM, zh, en, ctx, None, column=col("item_id"), value=shown)
        return _Match(None, "none", 0.0, f)
    ranked = m.by_title(title)
    best, score = ranked[0] if ranked else (None, 0.0)
    tie = len(ranked) > 1 and ranked[1][1] == score
    if best is not None and score >= m.accept and not tie:
        return _Match(best, "title", score)
    if best is not None and score >= m.suggest:
        zh = (
            f"第{n}行「{col('title')}」“{title}”与任务「{best.title}」（编码{best.id}）相似度{score:.0f}%，"
            "无法确认是同一任务；请填写任务编码或使用下发的模板"
        )
        en = f"row {n}: title {title!r} resembles item {best.id} ({score:.0f}%), not accepted"
        f = _finding(
            FindingKind.LOW_CONFIDENCE,
            zh,
            en,
            ctx,
            best.id,
            column=col("title"),
            value=title,
            candidate=best.id,
            candidate_title=best.title,
            score=score,
            expected="与任务清单一致的任务名称或任务编码",
        )
        return _Match(None, "none", score, f)
    zh = f"第{n}行「{col('title')}」“{title}”在任务清单中找不到对应任务"
    en = f"row {n}: title {title!r} matches no catalogue item (best {score:.0f}%)"
    f = _finding(
        FindingKind.UNKNOWN_ITEM,
        zh,
        en,
        ctx,
        None,
        column=col("title"),
        value=title,
        score=score,
        expected="与任务清单一致的任务名称或任务编码",
    )
    return _Match(None, "none", score, f)


def _column_namer(table: SheetTable) -> Any:
    """field → the heading as written in the file (``table.columns``), else the template's."""

    def col(field: str) -> str:
        heading = table.columns.get(field)
        return heading if heading and heading != field else FIELDS.get(field, field)

    return col


def _check_values(
    row: SubmissionRow, item: Item, ctx: dict[str, Any], col: Any
) -> tuple[str | None, float | None, list[Finding]]:
    v, n, out = row.values, ctx["row"], []

    def bad(field: str, value: Any, expected: str, zh: str, en: str) -> None:
        out.append(
            _finding(
                FindingKind.INVALID_VALUE,
                zh,
                en,
                ctx,
                item.id,
                field=field,
                column=col(field),
                value=value,
                expected=expected,
            )
        )

    statuses = status_expected_zh()
    status: str | None = None
    raw_status = v.get("status")
    try:
        status = normalise_status(raw_status)
        if status is None:
            zh = f"第{n}行「{col('status')}」未填写，应为{statuses}之一"
            bad("status", "", statuses, zh, f"row {n}, column {col('status')}: blank; a status is required")
    except ValueError:
        shown = cell_text(raw_status)
        zh = f"第{n}行「{col('status')}」的值“{shown}”不是规定的状态，应为{statuses}之一"
        en = f"row {n}, column {col('status')}: value {shown!r} is not a known status"
        bad("status", raw_status, statuses, zh, en)

    progress: float | None = None
    raw_progress = v.get("progress")
    try:
        progress = normalise_progress(raw_progress)
    except ValueError as exc:
        what = "超出范围" if "outside" in str(exc) else "无法识别"
        zh = f"第{n}行「{col('progress')}」的值“{cell_text(raw_progress)}”{what}，应为0–100的数字或百分比"
        en = f"row {n}, column {col('progress')}: {exc}; expected a number 0–100 or a percentage"
        bad("progress", raw_progress, "0–100的数字或百分比", zh, en)

    if status == _DONE and progress is not None and progress < 100:
        zh = (
            f"第{n}行「{col('status')}」为“已完成”，但「{col('progress')}」为{progress:g}，"
            "两者不一致：已完成的任务进度应为100"
        )
        en = f"row {n}: status 已完成 but progress {progress:g}; a completed task has progress 100"
        bad("progress", raw_progress, "已完成时为100", zh, en)

    if status is not None and status != _DONE and not cell_text(v.get("narrative")):
        zh = f"第{n}行「{col('narrative')}」未填写；完成状态为“{status}”时须说明本期进展情况"
        en = f"row {n}, column {col('narrative')}: blank; required unless the status is 已完成"
        bad("narrative", "", "完成状态不是已完成时必填", zh, en)
    return status, progress, out


def _quick_progress(value: Any) -> Any:
    """``normalise_progress`` for the other cells that need no finding (a whole number 0–100, blank,
    a text met before); ``_UNSURE`` for the rest, which go the full way (``_check_values``)."""
    if value.__class__ is int and 0 <= value <= 100:
        return float(value)  # what round(float(value), 2) gives for a whole number
    if value is None:
        return None
    if value.__class__ is str:
        return PROGRESS_OF_TEXT.get(value, _UNSURE)
    return _UNSURE


def validate_table(
    table: SheetTable,
    catalogue: Catalogue,
    unit: str,
    period: str,
    *,
    accept: float = 90,
    suggest: float = 70,
) -> tuple[list[ReportedItem], list[Finding]]:
    """Match and check every row of one unit's table; see the module docstring for the rules.

    Nearly every row is matched by its item id and needs no finding: that path is a few dict
    lookups (``_Matcher.id_texts``, ``vocab.STATUS_OF_TEXT``, ``_quick_progress``); any other row,
    or a value that may need a finding, takes the full way (``_match``, ``_check_values``).
    """
    matcher = _matcher(catalogue, accept, suggest)
    id_texts = matcher.id_texts
    col = _column_namer(table)
    sheet = table.sheet
    kept: dict[str, ReportedItem] = {}
    findings: list[Finding] = []
    for row in table.rows:
        values = row.values
        get = values.get
        raw_status = get("status")
        status = STATUS_OF_TEXT.get(raw_status) if raw_status.__class__ is str else None
        if status is None and not any(_filled(values.get(f)) for f in REPORT_FIELDS):
            continue
        ctx: dict[str, Any] | None = None
        raw_id = get("item_id")
        item = id_texts.get(raw_id) if raw_id.__class__ is str else None
        if item is None:
            ctx = {"row": row.row, "sheet": sheet, "unit": unit, "period": period}
            match = _match(row, matcher, ctx, col)
            item = match.item
            if item is None:
                if match.finding is not None:
                    findings.append(match.finding)
                continue
            method, score = match.method, round(match.score, 1)
        else:
            method, score = "id", 100.0
        narrative = cell_text(get("narrative"))
        raw_progress = get("progress")
        if raw_progress.__class__ is float and 0 <= raw_progress <= 100:  # normalise_progress, inline
            progress = (  # a whole number is its own rounding
                raw_progress
                if raw_progress.is_integer()
                else round(raw_progress * 100 if raw_progress < 1 else raw_progress, 2)
            )
        else:
            progress = _quick_progress(raw_progress)
        if (
            status is None
            or progress is _UNSURE
            or (status == _DONE and progress is not None and progress < 100)
            or (status != _DONE and not narrative)
        ):
            if ctx is None:
                ctx = {"row": row.row, "sheet": sheet, "unit": unit, "period": period}
            status, progress, checked = _check_values(row, item, ctx, col)
            findings.extend(checked)
        item_id, n = item.id, row.row
        reported = ReportedItem(  # positionally, in field order: a third of the cost of keywords
            item_id,
            unit,
            status,
            progress,
            narrative,
            cell_text(get("problems")),
            cell_text(get("next_steps")),
            cell_text(get("coordination")),
            cell_text(get("reporter")),
            cell_text(get("phone")),
            n,
            sheet,
            method,
            score,
        )
        if (earlier := kept.pop(item_id, None)) is not None:
            if ctx is None:
                ctx = {"row": n, "sheet": sheet, "unit": unit, "period": period}
            findings.append(
                _finding(
                    FindingKind.DUPLICATE,
                    f"第{earlier.row}行与第{n}行填报的是同一任务「{item.title}」，已采用第{n}行",
                    f"rows {earlier.row} and {n} report the same item {item_id}; row {n} kept",
                    ctx,
                    item_id,
                    rows=[earlier.row, n],
                    kept_row=n,
                )
            )
        kept[item_id] = reported
    return list(kept.values()), findings
