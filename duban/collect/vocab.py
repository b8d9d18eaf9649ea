"""The status vocabulary and the progress notation units actually write.

Units write 正在推进 or 按计划推进 for 推进中, and 80 / 80% / 80％ / 0.8 / 八成 for the same
progress. Normalising here, once, lets reconciliation and the bulletin compare like with like;
anything not understood raises ``ValueError`` with a readable reason, which validation turns
into a finding for the unit (never a guess).

Decisions:
- ``normalise_status``: ``None`` for blank; ``ValueError`` for an unknown word. Matching is
  exact after normalisation (NFKC, whitespace and trailing punctuation removed, a trailing
  remark in brackets dropped: "已完成（待验收）" → 已完成). No substring matching, because
  "未完成" contains "完成".
- ``normalise_progress``: a number 0–100, rounded to 2 decimals. A value strictly between 0
  and 1 is a fraction (0.8 → 80; a percent-formatted Excel cell arrives that way); 0 and 1 are
  taken as written (1 → 1%). 八成 → 80, 八成五 → 85, 一半/过半 → 50, 百分之八十 → 80, "约80%"
  and "80%左右" → 80. A bare Chinese numeral ("八十") is not accepted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from duban.domain import CANONICAL_STATUSES

__all__ = [
    "PROGRESS_OF_TEXT",
    "STATUS_OF_TEXT",
    "STATUS_SYNONYMS",
    "cell_text",
    "is_blank",
    "normalise_progress",
    "normalise_status",
    "parse_number",
    "status_expected_zh",
]

#: canonical status → the words units use for it (the canonical word included).
STATUS_SYNONYMS: dict[str, tuple[str, ...]] = {
    "未启动": ("未启动", "尚未启动", "未开始", "尚未开始", "未开展", "尚未开展", "未实施", "not started"),
    "推进中": (
        "推进中",
        "正在推进",
        "按计划推进",
        "正常推进",
        "有序推进",
        "稳步推进",
        "持续推进",
        "进行中",
        "正在进行",
        "实施中",
        "正在实施",
        "已启动",
        "在建",
        "in progress",
        "ongoing",
        "on track",
    ),
    "滞后": ("滞后", "进度滞后", "推进滞后", "延期", "已延期", "逾期", "落后", "delayed", "behind"),
    "暂停": ("暂停", "暂缓", "已暂停", "中止", "搁置", "paused", "suspended", "on hold"),
    "已完成": ("已完成", "完成", "全部完成", "已办结", "办结", "已落实", "completed", "done"),
}

_TRIM = " \t\r\n\u3000。.，,；;！!、：:"
_TRIM_NUMBER = _TRIM.replace(".", "")
_REMARK = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]$")


def _key(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).strip(_TRIM).lower()
    s = _REMARK.sub("", s).strip(_TRIM)
    return re.sub(r"\s+", " ", s)


_STATUS_INDEX: dict[str, str] = {_key(w): canon for canon, ws in STATUS_SYNONYMS.items() for w in ws}


def is_blank(value: Any) -> bool:
    """True for None, NaN and whitespace-only strings."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip(" \t\r\n\u3000")


def cell_text(value: Any) -> str:
    """A cell as text: blank → "", 13812345678.0 → "13812345678", dates in ISO."""
    if value.__class__ is str:  # the common case; whitespace-only strips to ""
        return value.strip()
    if value is None or is_blank(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


_NUMBER_RX = re.compile(r"(?:任务|第)?[（(]?(\d{1,4})[）)]?(?:项|条)?[.、．]?")


def parse_number(value: Any) -> int | None:
    """A task number from 1, 1.0, "1", "1.", "1、", "(1)", "任务1", "第1项"; None otherwise."""
    if is_blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    m = _NUMBER_RX.fullmatch(re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))))
    return int(m.group(1)) if m else None


#: Text cells normalised so far → the answer, kept by ``normalise_status``/``normalise_progress``:
#: a text's answer depends on the text alone and units write the same few words file after file,
#: so a caller with many cells (``validate_table``) looks here first. Only answers, never blanks
#: or errors; bounded.
STATUS_OF_TEXT: dict[str, str] = {}
PROGRESS_OF_TEXT: dict[str, float] = {}
_MEMO_MAX = 4096


def _memo(memo: dict[str, Any], text: str, answer: Any) -> None:
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[text] = answer


def status_expected_zh() -> str:
    return "、".join(CANONICAL_STATUSES)


@lru_cache(maxsize=4096)
def _status_of(text: str) -> str | None:
    return _STATUS_INDEX.get(_key(text))


def normalise_status(value: Any) -> str | None:
    """The canonical status for a cell value; None when blank; ValueError when unknown."""
    if is_blank(value):
        return None
    canon = _status_of(value if value.__class__ is str else str(value))
    if canon is None:
        raise ValueError(f"unknown status {value!r}; expected one of {', '.join(CANONICAL_STATUSES)}")
    if value.__class__ is str:
        _memo(STATUS_OF_TEXT, value, canon)
    return canon


_DIGITS_ZH = {**dict(zip("零一二三四五六七八九", range(10), strict=True)), "两": 2}
_WORDS = {"一半": 50.0, "过半": 50.0, "半": 50.0, "全部": 100.0, "十成": 100.0}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_HEDGES = re.compile(r"^(?:约|大约|大概|接近|近|已达|已完成|完成)|(?:左右|以上|上下|多)$")


def _zh_small(text: str) -> float | None:
    """十, 二十, 八十五, 一百 → number (only inside 百分之…)."""
    if text == "一百" or text == "百":
        return 100.0
    m = re.fullmatch(r"([一二两三四五六七八九])?十([一二三四五六七八九])?|([零一二两三四五六七八九])", text)
    if not m:
        return None
    if m.group(3):
        return float(_DIGITS_ZH[m.group(3)])
    tens = _DIGITS_ZH[m.group(1)] if m.group(1) else 1
    ones = _DIGITS_ZH[m.group(2)] if m.group(2) else 0
    return float(tens * 10 + ones)


@lru_cache(maxsize=4096)
def _parse_text(raw: str) -> float:
    s = unicodedata.normalize("NFKC", raw).strip(_TRIM_NUMBER).replace(" ", "")
    s = _HEDGES.sub("", s)
    if s in _WORDS:
        return _WORDS[s]
    m = re.fullmatch(r"([一二两三四五六七八九十])成([一二三四五六七八九])?", s)
    if m:
        tenths = 10 if m.group(1) == "十" else _DIGITS_ZH[m.group(1)]
        return tenths * 10.0 + (_DIGITS_ZH[m.group(2)] if m.group(2) else 0)
    m = re.fullmatch(r"百分之(.+)", s)
    if m:
        if _NUMBER.fullmatch(m.group(1)):
            return float(m.group(1))
        v = _zh_small(m.group(1))
        if v is not None:
            return v
        raise ValueError(f"progress {raw!r} is not a number")
    percent = s.endswith("%") or s.endswith("‰")
    if percent:
        body = s[:-1]
        if not _NUMBER.fullmatch(body):
            raise ValueError(f"progress {raw!r} is not a number")
        return float(body) / (10 if s.endswith("‰") else 1)
    if _NUMBER.fullmatch(s):
        return _from_number(float(s))
    raise ValueError(f"progress {raw!r} is not a number or a percentage")


def _from_number(v: float) -> float:
    return v * 100 if 0 < v < 1 else v


def normalise_progress(value: Any) -> float | None:
    """Progress in percent, 0–100; None when blank; ValueError with a reason for anything else."""
    if value.__class__ is float and 0 <= value <= 100:  # the common case: a number cell
        return round(value * 100 if value < 1 else value, 2)
    if is_blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"progress {value!r} is not a number")
    if isinstance(value, int | float):
        if math.isinf(value):
            raise ValueError(f"progress {value!r} is not a finite number")
        v = _from_number(float(value))
    elif isinstance(value, str):
        v = _parse_text(value)
    else:
        raise ValueError(f"progress {value!r} ({type(value).__name__}) is not a number")
    if not 0 <= v <= 100:
        raise ValueError(f"progress {value!r} is outside 0–100")
    percent = round(v, 2)
    if value.__class__ is str:
        _memo(PROGRESS_OF_TEXT, value, percent)
    return percent
