"""SMTP and API faults: nothing lost, nothing duplicated, a clear message, resumed by a rerun.

A few trials of the ``make soak`` fault campaigns (hardening.smtpfaults, hardening.apifaults)
against the loopback SMTP server and reporting API, misbehaving on purpose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from duban.notices.outbox import DeliveryReport
from duban.store.models import NoticeRow
from hardening.apifaults import API_SCENARIOS, api_faults
from hardening.report import CampaignResult
from hardening.smtpfaults import SCENARIOS, _judge, smtp_faults
from hardening.world import World, shared_world, world_cache_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = shared_world(world_cache_dir(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("scratch"))
    yield w
    w.close()


def test_smtp_421_451_550_drops_and_tls_failures_lose_and_repeat_nothing(world: World) -> None:
    res = smtp_faults(world, trials=1, seed=21, state="stale")  # the quarter all in: fewer notices
    assert res.problems == [], "\n".join(res.problems)
    assert res.trials == len(SCENARIOS) and res.lost == 0 and res.duplicated == 0
    assert (
        res.counts["faults"] > 0 and res.counts["resumed"] >= 2
    )  # the TLS scenarios always stop the first run


def test_api_timeouts_429_500_truncation_repeats_and_changes_lose_and_repeat_nothing(world: World) -> None:
    res = api_faults(world, trials=1, seed=22, styles=("cursor",), page=10, limit=60)
    assert res.problems == [], "\n".join(res.problems)
    assert res.trials == len(API_SCENARIOS) and res.lost == 0 and res.duplicated == 0
    assert res.counts["faults"] >= len(API_SCENARIOS) and res.counts["resumed"] >= 1  # "source down" stops
    paged = [
        s for s in API_SCENARIOS if s.name in ("a page that changes between retries", "all of them at once")
    ]
    res = api_faults(world, trials=1, seed=23, styles=("page",), scenarios=tuple(paged), page=10, limit=60)
    assert res.problems == [], "\n".join(res.problems)


def _row(unit: str, mid: str, state: str = "sent", refused: dict[str, str] | None = None) -> NoticeRow:
    return NoticeRow(unit=unit, message_id=mid, state=state, failed_recipients=refused or {}, error=None)


def test_the_smtp_judge_counts_a_lost_notice_a_duplicate_and_an_unrecorded_refusal() -> None:
    res = CampaignResult("t", "t")
    rows = [_row("a", "<a>"), _row("b", "<b>", "failed", {"b@x": "451 later"}), _row("c", "<c>", "sent")]
    _judge(
        res,
        "case",
        SCENARIOS[0],
        [DeliveryReport()],
        rows,
        Counter({"<a>": 2, "<c>": 1}),
        {"<a>", "<b>", "<c>"},
        "c@x",
    )
    assert res.lost == 1 and res.duplicated == 1
    assert any("never arrived" in p for p in res.problems)
    assert any("not recorded on exactly one notice" in p for p in res.problems)
    assert any("left failed" in p for p in res.problems)
