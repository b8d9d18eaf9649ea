"""Storing through the driver (``fetch.plain_query``, ``bulk.execute_many``, ``rows.read_rivals``):
the same rows, states and SUPERSEDED findings on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from duban.collect.intake import (
    ApiEntry,
    NewSubmission,
    Received,
    known_files,
    store_api_page,
    store_submissions,
)
from duban.collect.rows import SUBMISSION, SUBMISSION_COLUMNS, read_rivals, stored_keys
from duban.domain import Finding, FindingKind
from duban.store import Store
from duban.store.bulk import execute_many, insert_returning_ids
from duban.store.db import SHANGHAI
from duban.store.fetch import plain_query
from duban.store.models import FindingRow, SubmissionItemRow, SubmissionRow
from tests.builders import reported

PERIOD = "2026Q4"


def _file(name: str, sha: str, at: datetime, unit: str | None = "市发改委", **kw: object) -> NewSubmission:
    received = Received("file", f"/inbox/{name}.xlsx", at, sha256=sha * 64, sheet="填报表")
    items = [reported("T01", unit or "?")] if unit else []
    return NewSubmission(received, PERIOD, unit, items=items, **kw)  # type: ignore[arg-type]


def _row(key: str, at: datetime) -> tuple[object, ...]:
    values = {
        "dedupe_key": key,
        "period": PERIOD,
        "unit": "市府办",
        "source": "file",
        "source_ref": f"/inbox/{key}.xlsx",
        "received_at": at,
        "stored_at": at,
        "state": "accepted",
        "meta": {},
        "raw_rows": [],
    }
    return tuple(values.get(c) for c in SUBMISSION_COLUMNS)


def test_plain_query_and_execute_many_take_question_marks_on_both_drivers(store: Store) -> None:
    at = datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)
    with store.session() as s:
        ids = insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, [_row(f"k{i}", at) for i in range(3)])
        execute_many(s, "UPDATE submission SET state = ? WHERE id = ?", [("quarantined", ids[1])])
        got = plain_query(
            s, "SELECT dedupe_key, state FROM submission WHERE id IN (?, ?) ORDER BY id", ids[:2]
        )
    assert got == [("k0", "accepted"), ("k1", "quarantined")]


def test_stored_keys_reads_more_keys_than_one_statement_takes(store: Store) -> None:
    at = datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)
    with store.session() as s:
        ids = insert_returning_ids(
            s, SUBMISSION, SUBMISSION_COLUMNS, [_row(f"k{i:04d}", at) for i in range(1203)]
        )
        keys = [f"k{i:04d}" for i in range(0, 1300, 2)]
        found = stored_keys(s, keys)
    assert found == {f"k{i:04d}": (ids[i], "accepted") for i in range(0, 1203, 2)}


def test_rivals_come_back_with_their_arrival_as_a_datetime(store: Store) -> None:
    early = datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)
    late = datetime(2027, 1, 5, 9, 30, tzinfo=SHANGHAI)
    with store.session() as s:
        rows = [_row("a", early), _row("b", late), _row("c", early)]
        rows[2] = tuple(
            "市财政局" if c == "unit" else v for c, v in zip(SUBMISSION_COLUMNS, rows[2], strict=True)
        )
        insert_returning_ids(s, SUBMISSION, SUBMISSION_COLUMNS, rows)
        sql = "SELECT id, unit, period, source, source_ref, received_at FROM submission ORDER BY id"
        rivals = read_rivals(s, sql, [], lambda r: r.unit)
    assert [r.source_ref for r in rivals] == ["/inbox/a.xlsx", "/inbox/b.xlsx"]  # 市财政局 has no rival
    assert all(isinstance(r.received_at, datetime) for r in rivals)


def test_a_batch_keeps_the_newest_and_tells_the_older_when_in_shanghai_time(store: Store) -> None:
    first = datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)
    newest = datetime(2027, 1, 6, 9, 30, tzinfo=SHANGHAI)  # PostgreSQL gives it back in UTC (01:30)
    batch = [
        _file("v1", "a", first),
        _file("v2", "b", newest),
        _file("v2-again", "b", newest),  # the same content twice in a batch: stored once
        _file("tie", "c", first),  # the same arrival as v1: the later id wins between them
        _file("nobody", "d", first, unit=None),
        _file("broken", "e", first, quarantine=("坏了", "broken")),
    ]
    out = store_submissions(store, batch)
    v1, v2, again, tie, nobody, broken = out
    assert [o.created for o in out] == [True, True, False, True, True, True]
    assert again.submission_id == v2.submission_id and again.state == "accepted"
    assert (v1.state, v2.state, tie.state) == ("superseded", "accepted", "superseded")
    assert v2.superseded == sorted([v1.submission_id, tie.submission_id]) == v1.superseded
    assert (nobody.state, broken.state) == ("quarantined", "quarantined")
    with store.session() as s:
        rows = {r.source_ref: r for r in s.scalars(select(SubmissionRow))}
        notes = sorted(
            s.scalars(select(FindingRow).where(FindingRow.kind == "superseded")), key=lambda f: f.id
        )
        unreadable = s.scalars(select(FindingRow).where(FindingRow.kind == "unreadable")).one()
        items = s.scalars(select(SubmissionItemRow.submission_id)).all()
    assert rows["/inbox/v1.xlsx"].superseded_by == v2.submission_id
    assert rows["/inbox/tie.xlsx"].superseded_by == v2.submission_id
    assert [n.submission_id for n in notes] == [v1.submission_id, tie.submission_id]
    assert notes[0].message_zh == "市发改委报送的“v1.xlsx”已被2027-01-06 09:30收到的新版本替代"
    assert notes[0].evidence == {"superseded_by": v2.submission_id, "source_ref": "/inbox/v1.xlsx"}
    assert unreadable.submission_id == broken.submission_id and unreadable.evidence == {
        "source_ref": "/inbox/broken.xlsx"
    }
    assert (
        rows["/inbox/nobody.xlsx"].reason
        == "无法确定填报单位或报送期间 / unit or period could not be identified"
    )
    assert sorted(items) == sorted([v1.submission_id, v2.submission_id, tie.submission_id])
    again_out = store_submissions(store, [_file("v1-renamed", "a", first)])[0]
    assert (again_out.submission_id, again_out.state, again_out.created) == (
        v1.submission_id,
        "superseded",
        False,
    )


def test_meta_and_evidence_keep_plain_values_and_spell_the_others(store: Store) -> None:
    at = datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)
    finding = Finding(
        FindingKind.INVALID_VALUE,
        "值\x00错",
        "bad",
        unit="市发改委",
        evidence={"row": 4, "value": Decimal("1.50"), "day": date(2027, 1, 2), "list": [1], "none": None},
    )
    plain = {"unit": "市发改委", "rows": 40, "share": 0.5, "ok": True, "none": None}
    spelled = {"at": at, "n": Decimal("2.50"), "cols": ["a"]}
    out = store_submissions(
        store,
        [
            _file("plain", "a", at, meta=plain, findings=[finding]),
            _file("spelled", "b", at, unit="市财政局", meta=spelled),
            _file("none", "c", at, unit="市公安局"),
        ],
    )
    with store.session() as s:
        meta = dict(s.execute(select(SubmissionRow.source_ref, SubmissionRow.meta)).tuples().all())
        raws = s.scalars(select(SubmissionRow.raw_rows)).all()
        stored = s.scalars(select(FindingRow).where(FindingRow.kind == "invalid_value")).one()
    assert meta["/inbox/plain.xlsx"] == plain
    assert meta["/inbox/spelled.xlsx"] == {"at": str(at), "n": "2.50", "cols": "['a']"}
    assert meta["/inbox/none.xlsx"] == {}
    assert raws == [[], [], []]  # a file's rows are its raw copy
    assert stored.submission_id == out[0].submission_id and stored.period == PERIOD
    assert stored.message_zh == "值\ufffd错"
    assert stored.evidence == {"row": 4, "value": "1.50", "day": "2027-01-02", "list": "[1]", "none": None}


def test_api_versions_supersede_through_the_driver(store: Store) -> None:
    def entry(rid: str, h: str, at: datetime) -> ApiEntry:
        item = reported("T03", "市经信局")
        return ApiEntry(
            rid, h, at, "市经信局", "市经信局", PERIOD, item, raw={"id": rid, "day": date(2027, 1, 1)}
        )

    early = datetime(2027, 1, 4, 10, tzinfo=SHANGHAI)
    later = datetime(2027, 1, 5, 10, tzinfo=SHANGHAI)
    assert store_api_page(
        store, source="api", entries=[entry("r1", "h1", early)], watermark="1", catalogue_version=1
    ) == (
        1,
        0,
    )
    page = [entry("r1", "h2", later), entry("r1", "h1", early), entry("r1", "h2", later)]
    assert store_api_page(store, source="api", entries=page, watermark="2", catalogue_version=1) == (1, 2)
    with store.session() as s:
        states = sorted(s.execute(select(SubmissionRow.sha256, SubmissionRow.state)).tuples())
        note = s.scalars(select(FindingRow).where(FindingRow.kind == "superseded")).one()
        raw = s.scalars(select(SubmissionRow.raw_rows).where(SubmissionRow.sha256 == "h1")).one()
    assert states == [("h1", "superseded"), ("h2", "accepted")]
    assert note.message_zh == "市经信局报送的“r1”已被2027-01-05 10:00收到的新版本替代"
    assert raw == [{"id": "r1", "day": "2027-01-01"}]


def test_known_files_counts_the_sheets_stored_from_each_content(store: Store) -> None:
    at = datetime(2027, 1, 5, 9, tzinfo=SHANGHAI)
    two_sheets = [
        NewSubmission(Received("file", "/inbox/a.xlsx", at, sha256="a" * 64, sheet=sheet), PERIOD, None)
        for sheet in ("填报表", "补充表")
    ]
    store_submissions(store, [*two_sheets, _file("b", "b", at)])
    # the last hash shares 63 characters with a stored one: a range matches whole hashes only
    asked = ["a" * 64, "b" * 64, "c" * 64, "a" * 64, "a" * 63 + "b"]
    assert known_files(store, asked) == {"a" * 64: 2, "b" * 64: 1}
    many = [f"{i:064x}" for i in range(450)] + ["b" * 64]  # more than one statement's worth
    assert known_files(store, many) == {"b" * 64: 1}
