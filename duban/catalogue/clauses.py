"""Unit clauses: who is responsible for a task, in every way plan documents write it.

Plans name the responsible units in a parenthesised clause at the end of a task —
``(责任单位:A、B)``, ``（牵头单位：A；配合单位：B、C）``, ``(A、B牵头,C配合)``, a bare list
``(A、B、市级有关单位)`` — or on label lines of their own (``牵头单位:A``), or in table columns.
This module turns all of them into ordered :class:`~duban.domain.Assignment` lists with roles,
so the parser only has to find paragraphs. Matching runs on a 1:1 normalised copy of the text
(full-width punctuation mapped to ASCII), so every index found there slices the original text:
``raw`` names stay exactly as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from duban.domain import Assignment, Role

__all__ = [
    "PLACEHOLDER_PATTERNS",
    "Clause",
    "build_assignments",
    "clause_deadline",
    "find_clauses",
    "is_placeholder_name",
    "label_kind",
    "normalise",
    "parse_label_line",
    "split_units",
]

# One-to-one character replacements (same length), so offsets in the normalised text are
# offsets in the original. Full-width digits matter for task numbers such as "１．".
_NORMALISE = tuple(zip("（）：；，．　０１２３４５６７８９［］", "():;,. 0123456789[]", strict=True))


def normalise(text: str) -> str:
    """Full-width punctuation → ASCII, one character for one character."""
    # A chain of str.replace is several times faster than str.translate on CJK text.
    for full, ascii_ in _NORMALISE:
        if full in text:
            text = text.replace(full, ascii_)
    return text


#: Collective names that are not addressable units: kept on the item, flagged, never emailed.
#: Full regexes over the normalised name (ASCII parentheses).
PLACEHOLDER_PATTERNS: tuple[str, ...] = (
    r"各?(?:市|省|县|区|县级)?(?:级|直|直属|属)?各?(?:其他|其它)?(?:相关|有关)(?:职能)?(?:单位|部门|机构|方面)",
    r"各县\(市、区\).*",
    r"各(?:[县市区]、)+(?:县级市|[县市区])(?:人民)?(?:政府)?",
    r"各(?:区|县|地|部门|单位|乡镇|街道|县区|区县|县市区|级政府|地政府|有关单位|相关单位).*",
    r"有关县\(市、区\).*",
    r"市政府直属各单位|市级各(?:单位|部门)|市直各(?:单位|部门)",
)
_PLACEHOLDER_RE = re.compile("|".join(f"(?:{p})" for p in PLACEHOLDER_PATTERNS))


def is_placeholder_name(name: str) -> bool:
    """True for collective names such as 市级有关单位, 各县(市、区)政府, 各区、县级市."""
    return _PLACEHOLDER_RE.fullmatch(normalise(name).replace(" ", "")) is not None


# Label vocabulary → kind. "lead": 牵头; "co": 配合; "resp": 责任 (first is lead unless a 牵头
# label is present); "deadline": a time limit, not units.
_LABELS: dict[str, str] = {
    "牵头责任单位": "lead",
    "牵头单位": "lead",
    "牵头部门": "lead",
    "主办单位": "lead",
    "主责单位": "lead",
    "牵头": "lead",
    "配合单位": "co",
    "配合部门": "co",
    "协办单位": "co",
    "参与单位": "co",
    "协同单位": "co",
    "协作单位": "co",
    "协助单位": "co",
    "责任单位": "resp",
    "责任部门": "resp",
    "责任主体": "resp",
    "实施单位": "resp",
    "承办单位": "resp",
    "完成时限": "deadline",
    "完成时间": "deadline",
    "时间节点": "deadline",
    "时限要求": "deadline",
}
_LABEL_ALT = "|".join(sorted(_LABELS, key=len, reverse=True))
_LABEL_RE = re.compile(rf"({_LABEL_ALT})\s*:\s*")
_PAREN_LABEL_RE = re.compile(rf"\(\s*(?:{_LABEL_ALT})\s*:")
_INLINE_LABEL_RE = re.compile(rf"(?:^|(?<=[。;.\s]))\s*(?:{_LABEL_ALT})\s*:")
_SUFFIX_RE = re.compile(
    r"(?:由)?(.+?)(等?按职责分工负责|分工负责|牵头负责|牵头|负责|配合|参与|协同|协助|协办)$"
)
_SUFFIX_ROLE = {"牵头负责": "lead", "牵头": "lead", "负责": "lead"}
# Spans that contain a list separator but name one collective (各区、县级市).
_PROTECT_RE = re.compile(r"各(?:[县市区]、)+(?:县级市|[县市区])(?:\([^()]*\))?(?:人民)?(?:政府)?")
_UNIT_END_RE = re.compile(
    r"(?:局|委|办|厅|院|部|社|会|所|队|站|组|处|室|署|馆|团|校|台|司|科|区|市|县|镇|联|协"
    r"|中心|公司|政府|单位|部门|集团|街道|机构|人行|银行|支行)$"
)
_STRONG_END_RE = re.compile(r"(?:局|委|办|厅|院|中心|公司|政府|单位|部门|集团|机构|人行|银行|支行|办公室)$")
_NOT_UNIT_RE = re.compile(r"简称|以下|包括|例如|[0-9]{3,}|[。?!]")
_TAILS = (
    "等按职责分工负责",
    "按职责分工负责",
    "分工负责",
    "等有关单位",
    "等相关单位",
    "等单位",
    "等部门",
    "等",
)
_TAIL_ENDS = frozenset(t[-1] for t in _TAILS)
_SEPARATORS = frozenset("、,;/ \t\n\r")
_OPEN, _CLOSE = "([〔《“", ")]〕》”"


@dataclass(frozen=True)
class Clause:
    """A unit clause found in a paragraph: its span and labelled segments.

    ``segments`` are ``(kind, start, end)`` with offsets into the paragraph; kind is one of
    ``lead``, ``co``, ``resp``, ``plain`` (an unlabelled list) or ``deadline``.
    """

    start: int
    end: int
    segments: tuple[tuple[str, int, int], ...]


def label_kind(header: str) -> str | None:
    """The kind of a label or table column heading (牵头单位 → "lead"), or None."""
    key = normalise(header).replace(" ", "").rstrip(":")
    if key in _LABELS:
        return _LABELS[key]
    for label, kind in _LABELS.items():
        if len(label) > 2 and label in key:
            return kind
    return None


def _match_close(norm: str, open_at: int) -> int:
    """Index just after the parenthesis closing ``norm[open_at]``; end of text if unclosed."""
    depth = 0
    for i in range(open_at, len(norm)):
        c = norm[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(norm)


def _match_open(norm: str, close_at: int) -> int | None:
    depth = 0
    for i in range(close_at, -1, -1):
        c = norm[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return i
    return None


def _labelled_segments(norm: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """Segments of ``norm[start:end]`` split at labels; text before the first label is plain."""
    segs: list[tuple[str, int, int]] = []
    matches = list(_LABEL_RE.finditer(norm, start, end))
    if matches and norm[start : matches[0].start()].strip(" ,;、"):
        segs.extend(_suffix_or_plain(norm, start, matches[0].start()))
    for m, nxt in zip(matches, [*matches[1:], None], strict=True):
        seg_end = nxt.start() if nxt else end
        segs.append((_LABELS[m.group(1)], m.end(), seg_end))
    return segs


def _top_level_split(norm: str, start: int, end: int, seps: frozenset[str]) -> list[tuple[int, int]]:
    """Split ``norm[start:end]`` at separators outside brackets and protected collectives."""
    protected = [(m.start(), m.end()) for m in _PROTECT_RE.finditer(norm, start, end)]
    parts: list[tuple[int, int]] = []
    depth, piece, i = 0, start, start
    while i < end:
        if protected and protected[0][0] == i:
            i = protected.pop(0)[1]
            continue
        c = norm[i]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and c in seps:
            parts.append((piece, i))
            piece = i + 1
        i += 1
    parts.append((piece, end))
    return parts


def _trim(norm: str, start: int, end: int) -> tuple[int, int]:
    """Drop separators, quotes and a trailing 等/等单位/等部门 from a unit element."""
    while start < end and norm[start] in " 、,;:“《\"'":
        start += 1
    while end > start and norm[end - 1] in " 、,;:。.”》\"'":
        end -= 1
    for tail in _TAILS if norm[end - 1 : end] in _TAIL_ENDS else ():
        if end - start > len(tail) + 1 and norm.startswith(tail, end - len(tail)):
            end -= len(tail)
            break
    if end - start > 2 and norm[start] == "由":
        start += 1
    return start, end


def _split_spans(norm: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for a, b in _top_level_split(norm, start, end, _SEPARATORS):
        a, b = _trim(norm, a, b)
        if b > a:
            spans.append((a, b))
    return spans


def split_units(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the unit names in a list such as ``A、B,各县(市、区)政府;C``."""
    norm = normalise(text)
    return _split_spans(norm, start, len(norm) if end is None else end)


def _suffix_or_plain(norm: str, start: int, end: int) -> list[tuple[str, int, int]]:
    """``A、B牵头,C配合`` → lead/co segments; anything else is one plain segment."""
    pieces = _top_level_split(norm, start, end, frozenset(",;"))
    out: list[tuple[str, int, int]] = []
    suffixed = False
    for a, b in pieces:
        a, b = _trim(norm, a, b)
        if b <= a:
            continue
        m = _SUFFIX_RE.match(norm, a, b)
        if m and m.end(1) > a:
            suffixed = True
            out.append((_SUFFIX_ROLE.get(m.group(2), "co"), m.start(1), m.end(1)))
        else:
            out.append(("plain", a, b))
    return out if suffixed else [("plain", start, end)]


def _looks_like_units(norm: str, segs: list[tuple[str, int, int]]) -> bool:
    """An unlabelled parenthetical is a unit list only if every element looks like a unit.

    A lone name needs a strong ending (局, 委, 办公室 …) so that ``(试行)`` or ``(丽水市)``
    stay prose; in a list of two or more, weaker endings (会, 区 …) are accepted too.
    """
    spans = [span for _, a, b in segs for span in _split_spans(norm, a, b)]
    ending = _UNIT_END_RE if len(spans) > 1 else _STRONG_END_RE
    for a, b in spans:
        name = norm[a:b]
        if len(name) < 2 or len(name) > 30 or _NOT_UNIT_RE.search(name):
            return False
        if not (ending.search(name) or is_placeholder_name(name)):
            return False
    return bool(spans)


def find_clauses(text: str) -> list[Clause]:
    """Unit clauses in one paragraph, in order.

    Labelled parentheticals are found anywhere; otherwise a trailing parenthetical counts if
    it is a role-suffixed or unlabelled list of unit-like names; otherwise a run of labels
    without parentheses that ends the paragraph (``…。责任单位:A、B``), which is also how a
    label line (``牵头单位:区发改局``) is read.
    """
    norm = normalise(text)
    clauses: list[Clause] = []
    pos = 0
    while (m := _PAREN_LABEL_RE.search(norm, pos)) is not None:
        close = _match_close(norm, m.start())
        inner_end = close - 1 if norm[close - 1] == ")" else close
        clauses.append(Clause(m.start(), close, tuple(_labelled_segments(norm, m.start() + 1, inner_end))))
        pos = close
    if clauses:
        return clauses
    tail = len(norm.rstrip(" 。.;"))
    if tail and norm[tail - 1] == ")":
        open_at = _match_open(norm, tail - 1)
        if open_at is not None:
            segs = _suffix_or_plain(norm, open_at + 1, tail - 1)
            if _looks_like_units(norm, segs):
                return [Clause(open_at, tail, tuple(segs))]
    for cand in _INLINE_LABEL_RE.finditer(norm):
        if "。" not in norm[cand.end() : tail]:
            start = cand.start() + len(norm[cand.start() :]) - len(norm[cand.start() :].lstrip())
            return [Clause(start, len(norm), tuple(_labelled_segments(norm, start, tail)))]
    return []


def parse_label_line(text: str) -> Clause | None:
    """A line that is nothing but labels (``牵头单位:区发改局``), as a clause; else None."""
    if not _LABEL_RE.match(normalise(text).strip()):
        return None
    clauses = find_clauses(text)
    return clauses[0] if clauses else None


def clause_deadline(text: str, clauses: list[Clause]) -> str | None:
    """The text of the first deadline segment (完成时限:2023年底), if any."""
    for clause in clauses:
        for kind, a, b in clause.segments:
            if kind == "deadline":
                value = text[a:b].strip(" ,;，；、。")
                if value:
                    return value
    return None


def build_assignments(text: str, segments: list[tuple[str, int, int]]) -> list[Assignment]:
    """Ordered assignments from the segments of one item (possibly from several clauses).

    Lead = the units labelled 牵头 (or suffixed 牵头/负责); when nothing is so labelled, the
    first unit of a 责任单位 or unlabelled list. Everyone else is a co-unit. A unit listed
    twice keeps its first place. ``unit`` is the raw text; resolution comes later.
    """
    has_lead = any(kind == "lead" for kind, _, _ in segments)
    norm = normalise(text)
    out: list[Assignment] = []
    seen: set[str] = set()
    for kind, a, b in segments:
        if kind == "deadline":
            continue
        for s, e in _split_spans(norm, a, b):
            raw = text[s:e].strip()
            if not raw or raw in seen:
                continue
            seen.add(raw)
            if kind == "lead":
                role = Role.LEAD
            elif kind == "co" or has_lead:
                role = Role.CO
            else:
                role = Role.LEAD if not out else Role.CO
            out.append(Assignment(raw, role, len(out), raw, is_placeholder_name(raw)))
    return out
