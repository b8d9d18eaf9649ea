"""Bulletin metrics against a quarter whose totals were counted by hand (tests/fixtures/bulletin)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from duban.bulletin.metrics import STATUS_ORDER, compute_metrics, pct, stars_text
from duban.settings import RatingConfig
from tests.fixtures.bulletin.quarter import EXPECTED, UNIT_NAMES, A, B, C, D, quarter


@pytest.fixture
def metrics():
    return compute_metrics(quarter(), RatingConfig())


def test_item_status_counts_overall(metrics) -> None:
    assert metrics.overall.counts == EXPECTED["status"]
    assert metrics.overall.total == EXPECTED["items"]  # T07 (placeholder only) is not counted
    assert metrics.overall.share("已完成") == "33.3%"
    assert metrics.overall.share("未报送") == "16.7%"


def test_counts_per_part_and_section(metrics) -> None:
    by_part = {g.key: {s: n for s, n in g.counts.counts.items() if n} for g in metrics.by_part}
    assert by_part == EXPECTED["by_part"]
    sections = {(g.part, g.title): g.counts.total for g in metrics.by_section}
    assert sections == {
        ("二、推进数字经济", "（一）夯实数据基础。"): 2,
        ("二、推进数字经济", "（二）提升服务水平。"): 1,
        ("三、强化组织保障", "（一）健全工作机制。"): 3,
    }


def test_unit_table_ranking_and_stars(metrics) -> None:
    got = {
        u.unit: (
            u.rank,
            u.expected,
            u.on_time,
            u.late,
            u.late_days_max,
            u.missing,
            u.invalid,
            pct(u.on_time, u.expected),
            u.stars,
        )
        for u in metrics.units
    }
    assert got == EXPECTED["units"]
    assert [u.unit for u in metrics.units] == [D, A, B, C]
    assert metrics.units[1].name == UNIT_NAMES[A]
    assert (metrics.expected, metrics.on_time, metrics.late, metrics.missing, metrics.invalid) == (
        EXPECTED["expected"],
        EXPECTED["on_time"],
        EXPECTED["late"],
        EXPECTED["missing"],
        EXPECTED["invalid"],
    )
    assert f"{metrics.timeliness * 100:.1f}%" == EXPECTED["timeliness"]


def test_lagging_items_and_reasons(metrics) -> None:
    assert {lg.item.id: lg.reasons for lg in metrics.lagging} == EXPECTED["lagging"]
    t03 = next(lg for lg in metrics.lagging if lg.item.id == "T03")
    assert t03.problems == "资金未到位" and t03.lead_unit == A


def test_change_since_previous_period(metrics) -> None:
    ch = metrics.change
    assert ch is not None and ch.previous_key == "2026Q3"
    # Q3 by hand: 已完成 1 (T05), 推进中 4 (T01 T02 T03 T06), 未启动 1 (T04); all 9 reports on time.
    assert ch.previous.counts == {"已完成": 1, "推进中": 4, "滞后": 0, "暂停": 0, "未启动": 1, "未报送": 0}
    assert ch.delta == {"已完成": 1, "推进中": -2, "滞后": 1, "暂停": 0, "未启动": -1, "未报送": 1}
    assert ch.newly_completed == ("T01",)
    assert ch.timeliness_previous == 1.0
    assert compute_metrics(quarter(with_previous=False), RatingConfig()).change is None


def test_item_status_is_the_lead_units_report() -> None:
    pf = quarter(with_previous=False)
    # The lead of T01 (市甲局) has not reported, the co-unit has: the item counts as 未报送.
    facts = [
        replace(f, status=None, submitted_at=None) if (f.item_id, f.unit) == ("T01", A) else f
        for f in pf.assignments
    ]
    m = compute_metrics(replace(pf, assignments=facts), RatingConfig())
    t01 = next(i for i in m.items if i.item.id == "T01")
    assert (t01.status, t01.lead_unit) == ("未报送", A)
    assert m.overall.counts["已完成"] == 1 and m.overall.counts["未报送"] == 2


def test_an_unrecognised_lead_status_counts_as_not_reported() -> None:
    pf = quarter(with_previous=False)
    facts = [
        replace(f, status="差不多了") if (f.item_id, f.unit) == ("T06", A) else f for f in pf.assignments
    ]
    m = compute_metrics(replace(pf, assignments=facts), RatingConfig())
    assert m.overall.total == EXPECTED["items"]
    assert m.overall.counts["未报送"] == 2 and m.overall.counts["推进中"] == 1


def test_paused_is_its_own_bucket_and_needs_attention() -> None:
    pf = quarter(with_previous=False)
    facts = [replace(f, status="暂停") if (f.item_id, f.unit) == ("T04", C) else f for f in pf.assignments]
    m = compute_metrics(replace(pf, assignments=facts), RatingConfig())
    assert m.overall.counts["暂停"] == 1 and m.overall.counts["滞后"] == 1
    assert dict((lg.item.id, lg.reasons) for lg in m.lagging)["T04"] == ("状态为暂停",)
    assert any("暂停" in rule and "附件2" in rule for rule in m.rules)


def test_completed_items_are_not_called_stalled() -> None:
    pf = quarter(with_previous=False)
    facts = [replace(f, stalled=True) if (f.item_id, f.unit) == ("T05", D) else f for f in pf.assignments]
    m = compute_metrics(replace(pf, assignments=facts), RatingConfig())
    assert "T05" not in {lg.item.id for lg in m.lagging}


def test_rating_follows_config_and_is_stated() -> None:
    strict = RatingConfig(bands=[1.0, 0.9, 0.8, 0.6], invalid_penalty_threshold=0.5)
    m = compute_metrics(quarter(), strict)
    stars = {u.unit: u.stars for u in m.units}
    # 市甲局 75% → below 0.8 → 2 stars, invalid 25% ≤ 50% → no penalty; 市乙局 50% → 1 star.
    assert stars == {D: 5, A: 2, B: 1, C: 1}
    rule = m.rules[-1]
    assert "100%为五星" in rule and "60%为二星" in rule and "超过50%的降一星" in rule


def test_equal_scores_share_a_rank() -> None:
    pf = quarter(with_previous=False)
    # Make 市乙局 exactly like 市丙局: both units miss everything.
    facts = [
        replace(f, status=None, submitted_at=None, late_days=None) if f.unit == B else f
        for f in pf.assignments
    ]
    m = compute_metrics(replace(pf, assignments=facts), RatingConfig())
    ranks = {u.unit: u.rank for u in m.units}
    assert ranks[B] == ranks[C] == 3
    assert ranks[D] == 1 and ranks[A] == 2


def test_helpers() -> None:
    assert pct(1, 3) == "33.3%" and pct(0, 0) == "—"
    assert stars_text(2) == "★★☆☆☆"
    assert STATUS_ORDER[-1] == "未报送"
