"""Status synonyms and progress notation as units write them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duban.collect.vocab import STATUS_SYNONYMS, normalise_progress, normalise_status
from duban.domain import CANONICAL_STATUSES


def test_vocabulary_covers_exactly_the_canonical_statuses() -> None:
    assert set(STATUS_SYNONYMS) == set(CANONICAL_STATUSES)
    for canon in CANONICAL_STATUSES:
        assert normalise_status(canon) == canon


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("未启动", "未启动"),
        ("尚未启动", "未启动"),
        ("推进中", "推进中"),
        ("正在推进", "推进中"),
        ("按计划推进", "推进中"),
        (" 按计划推进。", "推进中"),
        ("已完成", "已完成"),
        ("完成", "已完成"),
        ("已完成（待验收）", "已完成"),
        ("滞后", "滞后"),
        ("进度滞后", "滞后"),
        ("暂停", "暂停"),
        ("Completed", "已完成"),
        ("推进中\u3000", "推进中"),
    ],
)
def test_status_synonyms(raw: str, canon: str) -> None:
    assert normalise_status(raw) == canon


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", math.nan])
def test_blank_status_is_none(raw: object) -> None:
    assert normalise_status(raw) is None


@pytest.mark.parametrize("raw", ["未完成", "基本完成", "进展顺利吗", "80%", "完成了一半"])
def test_unknown_status_raises_naming_the_vocabulary(raw: str) -> None:
    with pytest.raises(ValueError, match="未启动, 推进中, 滞后, 暂停, 已完成"):
        normalise_status(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (80, 80.0),
        (80.5, 80.5),
        ("80", 80.0),
        ("80%", 80.0),
        ("80％", 80.0),
        ("８０％", 80.0),
        ("0.8", 80.0),
        (0.8, 80.0),
        (0.29, 29.0),
        ("八成", 80.0),
        ("八成五", 85.0),
        ("一半", 50.0),
        ("过半", 50.0),
        ("百分之八十", 80.0),
        ("百分之六十五", 65.0),
        ("约80%", 80.0),
        ("80%左右", 80.0),
        ("100%", 100.0),
        (100, 100.0),
        (0, 0.0),
        ("0%", 0.0),
        (1, 1.0),  # 1 is 1%, not 100%: only values strictly between 0 and 1 are fractions
        ("85.", 85.0),
    ],
)
def test_progress_notations(raw: object, value: float) -> None:
    assert normalise_progress(raw) == value


@pytest.mark.parametrize("raw", [None, "", "  ", math.nan])
def test_blank_progress_is_none(raw: object) -> None:
    assert normalise_progress(raw) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("八十", "not a number"),
        ("很好", "not a number"),
        ("80%%", "not a number"),
        ("120", "outside 0–100"),
        (101, "outside 0–100"),
        ("-5", "outside 0–100"),
        ("150%", "outside 0–100"),
        (True, "not a number"),
        (math.inf, "finite"),
        ([80], "not a number"),
    ],
)
def test_bad_progress_raises_with_a_reason(raw: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_progress(raw)


@given(st.integers(min_value=2, max_value=100))
def test_whole_percentages_round_trip_in_every_notation(n: int) -> None:
    assert normalise_progress(n) == n
    assert normalise_progress(f"{n}%") == n
    assert normalise_progress(f"{n}％") == n
    assert normalise_progress(str(n)) == n


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_numeric_progress_is_in_range_or_rejected(x: float) -> None:
    try:
        v = normalise_progress(x)
    except ValueError:
        assert x < 0 or x > 100
        return
    assert v is not None and 0 <= v <= 100
