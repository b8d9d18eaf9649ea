"""The header synonym table: which column heading means which canonical field.

Units rename columns freely (进展情况, 工作进展, 完成情况, 本期进展 …), add ``*`` required
markers, newlines, full-width brackets and ``(%)`` suffixes. Matching happens on a normalised
form; an exact synonym beats a keyword found inside a short heading. The table is data, kept
apart from the detection logic in ``layout`` so it can grow without touching code.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

__all__ = [
    "AMBIGUOUS_NARRATIVE",
    "MATCH_CACHE",
    "MAX_HEADING",
    "SYNONYMS",
    "HeaderMatch",
    "match_header",
    "normalize_header",
]

#: canonical field → headings meaning it (written naturally; normalised when the index is built).
# fmt: off
SYNONYMS: dict[str, tuple[str, ...]] = {
    "item_id": (
        "任务编码", "任务ID", "任务编号", "任务代码", "编码", "事项编码", "事项编号", "事项代码",
        "任务标识", "item_id", "item id", "task id", "task_id",
    ),
    "number": ("序号", "编号", "任务序号", "顺序号", "序", "No", "No.", "number"),
    "title": (
        "工作任务", "任务名称", "任务", "重点任务", "工作内容", "任务内容", "主要任务", "工作事项",
        "事项", "事项名称", "具体任务", "重点工作", "工作名称", "任务事项", "目标任务", "任务描述",
        "重点任务名称", "工作任务名称", "主要工作任务", "title", "task",
    ),
    "unit": (
        "填报单位", "责任单位", "单位", "单位名称", "报送单位", "责任部门", "填报部门", "报送部门",
        "部门", "部门名称", "实施单位", "unit",
    ),
    "role": ("角色", "单位角色", "承担角色", "责任类型", "牵头/配合", "牵头或配合", "role"),
    "lead_unit": (
        "牵头单位", "牵头部门", "主责单位", "牵头责任单位", "主要责任单位", "lead unit", "lead_unit",
    ),
    "status": (
        "完成状态", "状态", "进度状态", "推进状态", "完成情况(状态)", "任务状态", "实施状态",
        "当前状态", "进展状态", "工作状态", "是否完成", "完成状态(未启动/推进中/滞后/暂停/已完成)",
        "status",
    ),
    "progress": (
        "完成进度", "完成进度(%)", "进度", "进度(%)", "完成比例", "完成比例(%)", "完成率",
        "完成率(%)", "完成百分比", "进度百分比", "完成进度百分比", "完成度", "完成进度%",
        "progress", "progress(%)", "percent",
    ),
    "narrative": (
        "本期进展情况", "进展情况", "工作进展", "完成情况", "本期进展", "推进情况", "工作完成情况",
        "进展", "工作推进情况", "工作进展情况", "本季度进展情况", "本季度工作进展", "本季度进展",
        "本月进展情况", "本月工作进展", "工作开展情况", "落实情况", "推进落实情况", "贯彻落实情况",
        "具体进展", "主要进展", "实施进展", "任务进展情况", "任务完成情况", "进展情况说明",
        "完成情况说明", "工作成效", "进展及成效", "narrative",
    ),
    "problems": (
        "存在问题", "问题", "困难和问题", "存在的问题", "存在困难", "困难问题", "问题和困难",
        "存在问题及困难", "存在的困难和问题", "存在困难和问题", "主要问题", "困难", "problems", "issues",
    ),
    "next_steps": (
        "下步计划", "下一步计划", "下步工作", "下一步工作打算", "下步打算", "下一步打算",
        "下步工作计划", "下一步工作计划", "下一步工作", "下阶段计划", "下阶段工作计划",
        "下步举措", "下一步措施", "下步工作安排", "下一步工作安排", "next steps", "next_steps",
    ),
    "coordination": (
        "需协调事项", "需协调解决的问题", "协调事项", "需协调解决事项", "需要协调的事项",
        "需协调问题", "需要协调解决的问题", "需协调解决的事项", "需市级协调事项",
        "需协调解决的困难和问题", "coordination",
    ),
    "reporter": ("填报人", "联系人", "经办人", "填表人", "报送人", "reporter", "contact"),
    "phone": (
        "联系电话", "电话", "手机", "联系方式", "手机号", "手机号码", "电话号码", "办公电话",
        "phone", "tel",
    ),
}
# fmt: on

#: "完成情况" names the narrative in most forms but the status in some; the detector decides.
AMBIGUOUS_NARRATIVE = "完成情况"

#: Keywords tried, in order, inside a short heading that matched no synonym.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("协调", "coordination"),
    ("下一步", "next_steps"),
    ("下步", "next_steps"),
    ("下阶段", "next_steps"),
    ("问题", "problems"),
    ("困难", "problems"),
    ("进展", "narrative"),
    ("推进情况", "narrative"),
    ("落实情况", "narrative"),
    ("完成情况", "narrative"),
    ("状态", "status"),
    ("进度", "progress"),
    ("完成率", "progress"),
    ("百分比", "progress"),
    ("牵头", "lead_unit"),
    ("电话", "phone"),
    ("手机", "phone"),
    ("联系人", "reporter"),
    ("填报人", "reporter"),
    ("编码", "item_id"),
    ("序号", "number"),
    ("填报单位", "unit"),
    ("责任单位", "unit"),
    ("任务", "title"),
)
#: A heading holding one of these is about something else (a deadline, a remark): no keyword match.
_KEYWORD_BLOCKERS = ("时间", "时限", "日期", "期限", "备注", "依据", "目标值")
MAX_HEADING = 24  # longer cells are prose or data, never a heading

_STRIP = re.compile(r"[\s*＊※#]+")
_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕")


def normalize_header(text: str) -> str:
    """Fold a heading to its matching form: NFKC (full-width → half-width), no spaces, ``*``, case."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", text)).lower()


class HeaderMatch(NamedTuple):
    field: str
    exact: bool  # a synonym (possibly after dropping a bracketed note), not a keyword
    ambiguous: bool  # the heading was 完成情况 (narrative unless a narrative column exists)


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for fld, names in SYNONYMS.items():
        for name in names:
            index.setdefault(normalize_header(name), fld)
    return index


_INDEX = _build_index()
_AMBIGUOUS = normalize_header(AMBIGUOUS_NARRATIVE)
#: heading text → match, shared by every file read in this process (bounded below).
MATCH_CACHE: dict[str, HeaderMatch | None] = {}


#: every synonym and keyword holds a letter (Latin or CJK), so text made only of ASCII digits and
#: punctuation (a phone number, a date, an amount) names no field: such misses skip the matching.
_LETTERLESS_NEVER_MATCH = all(
    any(ch.isalpha() for ch in key) for key in (*_INDEX, *(word for word, _ in _KEYWORDS))
)


def _match(text: str) -> HeaderMatch | None:
    if _LETTERLESS_NEVER_MATCH and text.isascii() and text.lower() == text.upper():
        return None
    norm = normalize_header(text)
    if not norm or norm.endswith(":"):  # "填报单位：" labels a value beside it; it heads no column
        return None
    fld = _INDEX.get(norm)
    if fld is None:
        bare = _PARENS.sub("", norm).rstrip("%")
        fld = _INDEX.get(bare) if bare else None
        if fld is None and bare and not any(b in bare for b in _KEYWORD_BLOCKERS):
            for word, kw_field in _KEYWORDS:
                if word in bare:
                    return HeaderMatch(kw_field, False, word == AMBIGUOUS_NARRATIVE)
            return None
        norm = bare
    if fld is None:
        return None
    return HeaderMatch(fld, True, norm == _AMBIGUOUS)


def match_header(text: object) -> HeaderMatch | None:
    """The field a heading cell names, or None. Cached: headings repeat across thousands of files."""
    if not isinstance(text, str) or len(text) > MAX_HEADING:
        return None
    try:
        return MATCH_CACHE[text]
    except KeyError:
        pass
    found = _match(text)
    if len(MATCH_CACHE) > 50_000:
        MATCH_CACHE.clear()
    MATCH_CACHE[text] = found
    return found
