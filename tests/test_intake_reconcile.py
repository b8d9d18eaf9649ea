"""Submissions with provenance, superseding, and reconciliation findings on a hand-built quarter."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from duban.collect.intake import ApiEntry, Received, read_watermark, store_api_page, store_submission
from duban.domain import Finding, FindingKind
from duban.reconcile import current_entries, reconcile
from duban.store.catalogue import import_catalogue
from duban.store.models import FindingRow, SubmissionItemRow, SubmissionRow
from tests.builders import WeekdayCalendar, at, catalogue, reported

DEADLINE = date(2027, 1, 8)  # a Friday
PERIOD = "2026Q4"


def _file(store, unit, items, *, sha, day, findings=()):
    return store_submission(
        store,
        received=Received("file", f"/in/{unit}-{sha}.xlsx", at(day), sha256=sha * 64, sheet="填报表"),
        period=PERIOD,
        unit=unit,
        items=items,
        findings=list(findings),
        catalogue_version=1,
    )


def test_same_content_twice_is_stored_once(store):
    first = _file(store, "市发改委", [reported("T01", "市发改委")], sha="a", day=date(2027, 1, 5))
    again = _file(store, "市发改委", [reported("T01", "市发改委")], sha="a", day=date(2027, 1, 6))
    assert first.created and not again.created and first.submission_id == again.submission_id
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(SubmissionItemRow)) == 1


def test_newer_file_supersedes_older_and_history_stays(store):
    old = _file(store, "市发改委", [reported("T01", "市发改委", progress=40)], sha="a", day=date(2027, 1, 5))
    new = _file(store, "市发改委", [reported("T01", "市发改委", progress=60)], sha="b", day=date(2027, 1, 6))
    assert new.superseded == [old.submission_id]
    entries = current_entries(store, PERIOD)
    assert entries[("市发改委", "T01")].progress == 60
    with store.session() as s:
        states = dict(s.execute(select(SubmissionRow.id, SubmissionRow.state)).tuples().all())
        assert states == {old.submission_id: "superseded", new.submission_id: "accepted"}
        assert s.scalar(select(func.count()).select_from(SubmissionItemRow)) == 2  # old rows kept
        kinds = list(s.scalars(select(FindingRow.kind)))
        assert kinds == ["superseded"]


def test_an_older_file_arriving_later_does_not_win(store):
    new = _file(store, "市发改委", [reported("T01", "市发改委", progress=60)], sha="b", day=date(2027, 1, 6))
    old = _file(store, "市发改委", [reported("T01", "市发改委", progress=40)], sha="a", day=date(2027, 1, 5))
    assert old.superseded == [old.submission_id]
    assert current_entries(store, PERIOD)[("市发改委", "T01")].progress == 60
    assert new.state == "accepted"


def test_quarantined_file_is_kept_with_reason(store):
    out = store_submission(
        store,
        received=Received("file", "/in/broken.xlsx", at(date(2027, 1, 5)), sha256="c" * 64),
        period=None,
        unit=None,
        quarantine=("文件已加密", "file is encrypted"),
    )
    with store.session() as s:
        sub = s.get(SubmissionRow, out.submission_id)
        assert sub.state == "quarantined" and "encrypted" in sub.reason
        f = s.scalar(select(FindingRow))
        assert f.kind == "unreadable" and "broken.xlsx" in f.message_zh


def test_api_page_and_watermark_commit_together_and_repeat_adds_nothing(store):
    def entry(rid, progress, h):
        return ApiEntry(
            rid,
            h,
            at(date(2027, 1, 4)),
            "市经信局",
            "市经信局",
            PERIOD,
            reported("T03", "市经信局", progress=progress),
            raw={"id": rid},
        )

    assert store_api_page(
        store,
        source="api",
        entries=[entry("r1", 10, "h1"), entry("r2", 20, "h2")],
        watermark="2027-01-04T10:00:00",
        catalogue_version=1,
    ) == (2, 0)
    assert store_api_page(
        store,
        source="api",
        entries=[entry("r1", 10, "h1")],
        watermark="2027-01-03T00:00:00",
        catalogue_version=1,
    ) == (0, 1)
    assert read_watermark(store, "api") == "2027-01-04T10:00:00"  # never goes backwards
    store_api_page(
        store,
        source="api",
        entries=[entry("r1", 30, "h3")],
        watermark="2027-01-05T00:00:00",
        catalogue_version=1,
    )
    with store.session() as s:
        states = sorted(s.execute(select(SubmissionRow.source_ref, SubmissionRow.state)).tuples())
    assert states == [("r1", "accepted"), ("r1", "superseded"), ("r2", "accepted")]


def _quarter(store):
    """Hand-written quarter: expected pairs T01×2, T02×1, T03×2 (placeholder excluded) = 5."""
    import_catalogue(store, catalogue(), source_sha256="0" * 64)
    # 市发改委: T01, T02 on time; T03 (co-unit) missing.
    _file(
        store,
        "市发改委",
        [reported("T01", "市发改委", status="已完成", progress=100), reported("T02", "市发改委")],
        sha="a",
        day=date(2027, 1, 7),
    )
    # 市大数据局: T01 late by 2 working days (Tue 12th), status 未启动 → conflict with lead's 已完成,
    # and it also reports T02 which it is not assigned.
    _file(
        store,
        "市大数据局",
        [reported("T01", "市大数据局", status="未启动", progress=0), reported("T02", "市大数据局")],
        sha="b",
        day=date(2027, 1, 12),
    )
    # 市经信局: T03 on time but with an invalid value.
    _file(
        store,
        "市经信局",
        [reported("T03", "市经信局", progress=None, row=4)],
        sha="c",
        day=date(2027, 1, 8),
        findings=[
            Finding(
                FindingKind.INVALID_VALUE,
                "第4行进度无法识别",
                "row 4 progress",
                unit="市经信局",
                item_id="T03",
                period=PERIOD,
                evidence={"row": 4},
            )
        ],
    )


def test_reconcile_counts_and_findings_match_a_hand_written_quarter(store):
    _quarter(store)
    rep = reconcile(store, catalogue(), period=PERIOD, deadline=DEADLINE, calendar=WeekdayCalendar())
    assert (rep.expected, rep.received) == (5, 4)
    by_unit = {u.unit: u.as_json() for u in rep.units}
    assert by_unit == {
        "市发改委": {"unit": "市发改委", "expected": 3, "on_time": 2, "late": 0, "missing": 1, "invalid": 0},
        "市大数据局": {
            "unit": "市大数据局",
            "expected": 1,
            "on_time": 0,
            "late": 1,
            "missing": 0,
            "invalid": 0,
        },
        "市经信局": {"unit": "市经信局", "expected": 1, "on_time": 1, "late": 0, "missing": 0, "invalid": 1},
    }
    assert rep.findings == {"missing": 1, "late": 1, "unexpected": 1, "conflict": 1}
    late = next(u for u in rep.units if u.unit == "市大数据局")
    assert late.late_days == 2


def test_reconcile_twice_replaces_its_own_findings_only(store):
    _quarter(store)
    for _ in range(2):
        reconcile(store, catalogue(), period=PERIOD, deadline=DEADLINE, calendar=WeekdayCalendar())
    with store.session() as s:
        kinds = sorted(s.scalars(select(FindingRow.kind).where(FindingRow.period == PERIOD)))
    assert kinds == ["conflict", "invalid_value", "late", "missing", "unexpected"]


def test_stalled_and_regressed_against_previous_period(store):
    import_catalogue(store, catalogue(), source_sha256="0" * 64)
    for period, sha, items in [
        (
            "2026Q3",
            "p",
            [
                reported("T01", "市发改委", status="已完成", progress=100),
                reported("T02", "市发改委", progress=50),
            ],
        ),
        (
            PERIOD,
            "q",
            [
                reported("T01", "市发改委", status="推进中", progress=90),
                reported("T02", "市发改委", progress=50),
            ],
        ),
    ]:
        store_submission(
            store,
            received=Received(
                "file",
                f"/{sha}.xlsx",
                at(date(2026, 10, 1) if period == "2026Q3" else date(2027, 1, 4)),
                sha256=sha * 64,
            ),
            period=period,
            unit="市发改委",
            items=items,
        )
    rep = reconcile(
        store,
        catalogue(),
        period=PERIOD,
        deadline=DEADLINE,
        calendar=WeekdayCalendar(),
        previous_period="2026Q3",
    )
    assert rep.findings["regressed"] == 1 and rep.findings["stalled"] == 1


def test_a_new_version_of_an_api_record_supersedes_only_that_record(store):
    """Rivals are found by dedupe-key ranges: record "a" must not take "a:b" (or "a:" prefixes)
    along, and a later version of "a" supersedes only the earlier "a"."""

    def entry(rid, h, day):
        item = reported("T03", "市经信局", progress=50)
        return ApiEntry(rid, h, at(date(2027, 1, day)), "市经信局", "市经信局", PERIOD, item, raw={"id": rid})

    page = [entry("a", "h1", 4), entry("a:b", "h2", 5), entry("ab", "h3", 6)]
    store_api_page(store, source="api", entries=page, watermark=None, catalogue_version=1)
    store_api_page(store, source="api", entries=[entry("a", "h4", 7)], watermark=None, catalogue_version=1)
    with store.session() as s:
        got = sorted(
            s.execute(select(SubmissionRow.source_ref, SubmissionRow.sha256, SubmissionRow.state)).tuples()
        )
    assert got == [
        ("a", "h1", "superseded"),
        ("a", "h4", "accepted"),
        ("a:b", "h2", "accepted"),
        ("ab", "h3", "accepted"),
    ]
