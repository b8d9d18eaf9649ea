"""The table reader's shortcuts give what the plain rules give.

``read_body`` cleans and builds rows with one function written per layout of columns,
``find_header`` remembers rows and one-row headers across files, and the text reader counts
control characters on the bytes and stops weighing encodings once one reads cleanly. Each is
checked here against a plain statement of the rule (a slow, obvious version written in the
test) on many random grids and texts, and on the cases where a shortcut could go wrong.
"""

from __future__ import annotations

import random
import re
from datetime import date, datetime
from typing import Any

import pytest

from connectors.spreadsheets import RawSheet, find_header, table_from_sheet
from connectors.spreadsheets.body import (
    _FOOTER,
    _FOOTER_START,
    EXCEL_ERRORS,
    _table_end,
    column_name,
    is_empty,
    read_body,
)
from connectors.spreadsheets.text import _CONTROL, decode_text, read_delimited
from duban.errors import SubmissionUnreadable

# --- plain statements of the body rules ---------------------------------------------------


def _plain_end(body: list[list[Any]]) -> tuple[int, bool]:
    """Five rows of only None/"" end the table; before that, the first footer row does.

    A footer row is headed by a footer's first letter or a space, or by an empty first
    cell in a row holding something, and its first non-empty cell is a footer label.
    """
    end = len(body)
    for pos in range(len(body) - 4):
        if all(all(v is None or v == "" for v in body[k]) for k in range(pos, pos + 5)):
            end = pos
            break
    for k in range(end):
        row = body[k]
        head = row[0] if row else None
        if isinstance(head, str) and head:
            candidate = head[0] in _FOOTER_START or head[0].isspace()
        else:
            candidate = (head is None or head == "") and any(row)
        first = next((v for v in row if not is_empty(v)), None)
        if candidate and isinstance(first, str) and _FOOTER.match(first.strip()):
            return k, True
    return end, False


def _plain_rows(
    rows: list[list[Any]], columns: dict[str, int], start: int, first_row: int, first_col: int
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Each value on its own: text stripped (empty → None), Excel errors → None and noted."""
    body = rows[start:]
    end, _ = _plain_end(body)
    ordered = sorted(columns.items(), key=lambda kv: kv[1])
    out: list[tuple[int, dict[str, Any]]] = []
    errors: dict[int, list[str]] = {}
    for k, row in enumerate(body[:end]):
        values: dict[str, Any] = {}
        for j, (field, c) in enumerate(ordered):
            v = row[c] if c < len(row) else None
            if type(v) is str:
                v = v.strip() or None
                if v in EXCEL_ERRORS:
                    cell = f"{column_name(first_col - 1 + c)}{first_row + start + k}"
                    errors.setdefault(j, []).append(f"{cell} {v}")
                    v = None
            values[field] = v
        if any(v is not None for v in values.values()):
            out.append((first_row + start + k, values))
    noted = [e for j in sorted(errors) for e in errors[j]]
    return out, noted


_CELLS: list[Any] = [
    "", "", None, None, " ", "\u3000", "\t", " x ", "推进中", "  已完成\n", "T1", 0, 0.0, 1, 2.5, -0.0,
    True, False, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4), "#N/A", " #DIV/0! ", "#REF!", "#",
    "#标签", "!", '"q"', "\x1c", "合计", "注：无", " 制表人：张三", "说明", "总体良好", "x" * 40,
]  # fmt: skip


def _random_body(rng: random.Random, width: int) -> list[list[Any]]:
    body: list[list[Any]] = []
    for _ in range(rng.randint(0, 20)):
        kind = rng.random()
        if kind < 0.12:
            body.append([rng.choice(["", None]) for _ in range(width)])
        elif kind < 0.16:
            body.append([])
        elif kind < 0.25:
            body.append([rng.choice(_CELLS) for _ in range(rng.randint(1, width))])
        else:
            body.append([rng.choice(_CELLS) for _ in range(width)])
    if rng.random() < 0.3:  # a blank run somewhere
        k = rng.randint(0, len(body))
        body[k:k] = [[rng.choice(["", None]) for _ in range(width)] for _ in range(rng.choice([4, 5, 6]))]
    return body


def test_table_end_follows_the_plain_rule() -> None:
    rng = random.Random(20260601)
    outcomes = {"run": 0, "footer": 0, "to the end": 0}
    for _ in range(3000):
        body = _random_body(rng, rng.randint(1, 6))
        if rng.random() < 0.5:  # every row headed by text, as in most reports
            body = [["T" + str(i), *r[1:]] if r and rng.random() < 0.9 else r for i, r in enumerate(body)]
        got = _table_end(body)
        assert got == _plain_end(body), body
        outcomes["footer" if got[1] else ("run" if got[0] < len(body) else "to the end")] += 1
    assert min(outcomes.values()) > 100  # every way of ending exercised


def test_body_rows_follow_the_plain_rule() -> None:
    rng = random.Random(20260602)
    fields = ["item_id", "number", "title", "status", "progress", "narrative", "problems"]
    with_errors = 0
    for _ in range(3000):
        width = rng.randint(1, 7)
        body = _random_body(rng, width)
        cols = sorted(rng.sample(range(width + 1), rng.randint(1, min(width + 1, 5))))
        columns = dict(zip(rng.sample(fields, len(cols)), cols, strict=True))
        start, first_row, first_col = rng.randint(0, 2), rng.randint(1, 9), rng.randint(1, 3)
        rows, notes = read_body(body, columns, start, first_row, first_col)
        expected, errors = _plain_rows(body, columns, start, first_row, first_col)
        assert [(r.row, r.values) for r in rows] == expected
        for r, (_, values) in zip(rows, expected, strict=True):  # same types, same key order
            assert list(r.values) == list(values)
            assert [type(v) for v in r.values.values()] == [type(v) for v in values.values()]
        error_notes = [n for n in notes if n.startswith("Excel error values")]
        if errors:
            with_errors += 1
            shown = ", ".join(errors[:5]) + (f" and {len(errors) - 5} more" if len(errors) > 5 else "")
            assert error_notes == ["Excel error values read as empty: " + shown]
        else:
            assert error_notes == []
    assert with_errors > 300


def test_columns_in_any_order_with_odd_keys_and_short_rows() -> None:
    rows: list[list[Any]] = [["a", " b ", "#N/A"], [" ", "", None], ["c"]]
    assert [(r.row, r.values) for r in read_body(rows, {"x": 2, "it's": 0}, 0, 1, 1)[0]] == [
        (1, {"it's": "a", "x": None}),
        (3, {"it's": "c", "x": None}),
    ]
    odd = read_body([["a", 1.5]], {7: 1, 'say "x"': 0}, 0, 1, 1)[0]  # type: ignore[dict-item]
    assert odd[0].values == {'say "x"': "a", 7: 1.5}


# --- remembered rows and headers ------------------------------------------------------------


def test_a_remembered_header_keeps_the_text_of_each_unknown_number() -> None:
    """1, 1.0 and True are equal as keys but read as "1", "1.0" and "True"."""
    for extra, text in [(1, "1"), (1.0, "1.0"), (True, "True"), (1, "1")]:
        rows: list[list[Any]] = [["任务编码", "完成状态", extra], ["T1", "推进中", "x"]]
        header = find_header(rows)
        assert header is not None
        assert header.unknown == [text]


def test_a_remembered_header_is_not_shared_between_tables() -> None:
    rows: list[list[Any]] = [["任务编码", "工作任务", "完成状态", "备注"], ["T1", "任务一", "推进中", ""]]
    first = table_from_sheet(RawSheet("s", [list(r) for r in rows]), source="a.xlsx")
    assert first is not None
    first.columns["item_id"] = "changed"
    first.notes.append("changed")
    second = table_from_sheet(RawSheet("s", [list(r) for r in rows]), source="b.xlsx")
    assert second is not None
    assert second.columns == {"item_id": "任务编码", "title": "工作任务", "status": "完成状态"}
    assert second.notes == ["unknown headers ignored: 备注"]
    offset = find_header([["填报单位：市发改委"], *rows])
    assert offset is not None and (offset.top, offset.bottom) == (1, 1)


def test_the_same_rows_give_the_same_header_however_often_read() -> None:
    rng = random.Random(20260603)
    pool = ["任务编码", "工作任务", "完成状态", "本期进展情况", "进展", "完成情况", "序号", "备注"]
    pool += ["", None, 1, 2.0]

    def grid() -> list[list[Any]]:
        return [[rng.choice(pool) for _ in range(rng.randint(1, 6))] for _ in range(rng.randint(1, 5))]

    grids = [grid() for _ in range(300)]
    first = [find_header(g) for g in grids]
    again = [find_header(g) for g in reversed(grids)][::-1]
    assert first == again
    assert sum(h is not None for h in first) > 30


# --- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
@pytest.mark.parametrize("length", [300, 70_000])
def test_control_characters_are_counted_as_the_rule_says(encoding: str, length: int) -> None:
    base = "任务编码,完成状态\nT1,推进中\n"
    for extra in (0, 1):
        text = (base * (length // len(base) + 1))[:length]
        sample = text[:65536]
        controls = len(sample) // 100 + extra
        text = ("\x0b\x01\x7f\x1f" * controls)[:controls] + text[controls:]
        data = text.encode(encoding)
        refused = len(_CONTROL.findall(text[:65536])) > len(text[:65536]) // 100
        if refused:
            with pytest.raises(SubmissionUnreadable, match="control characters"):
                read_delimited(data, source="x.csv")
        else:
            read_delimited(data, source="x.csv")
        assert refused == bool(extra)


def test_gbk_that_reads_cleanly_is_not_weighed_against_big5() -> None:
    text = "填报单位：市发改委\n任务编码,完成状态\nT1,推进中\n"
    assert decode_text(text.encode("gbk")) == (text, "GBK")
    big5 = "填報單位：臺灣\n任務,狀態\n".encode("big5")
    assert decode_text(big5)[1] == "Big5"


def test_control_count_ignores_multibyte_text() -> None:
    """Legacy-encoded CJK never holds a byte in the control range."""
    chars = "".join(chr(c) for c in range(0x4E00, 0x9FA5, 7))
    for codec in ("gbk", "gb18030", "big5"):
        data = chars.encode(codec, errors="ignore")
        assert not re.search(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]", data)
