"""Outbox bookkeeping on SQLite and PostgreSQL: planned → sending → sent | failed | skipped."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from duban.notices.outbox import SendResult, deliver, is_permanent_failure, plan_notices, recipients_of
from duban.store import Store
from duban.store.models import NoticeRow
from tests.smtp_helpers import build_from, make_ctx, mid

UNITS = ["市发改委", "市经信局", "市大数据局", "市财政局"]


class RecordingSender:
    """A Sender that keeps what it was given; ``refuse`` maps recipient → permanent reply,
    ``raise_for`` names units (by To address) whose send raises a transport error."""

    def __init__(self, refuse: dict[str, str] | None = None, raise_for: set[str] | None = None) -> None:
        self.sent: list[EmailMessage] = []
        self.refuse = refuse or {}
        self.raise_for = raise_for or set()

    def send(self, msg: EmailMessage) -> SendResult:
        rcpts = recipients_of(msg)
        if set(rcpts) & self.raise_for:
            raise ConnectionError("server went away")
        self.sent.append(msg)
        refused = {r: self.refuse[r] for r in rcpts if r in self.refuse}
        return SendResult(accepted=[r for r in rcpts if r not in refused], refused=refused)


def addr(unit: str) -> str:
    return f"u{UNITS.index(unit) if unit in UNITS else 9}@example.gov.cn"


def _plan(store: Store, units: list[str] = UNITS, stage: str = "due") -> int:
    return plan_notices(store, "2026Q4", stage, [(u, [addr(u)], mid(u, stage)) for u in units])


def _contexts(units: list[str] = UNITS, stage: str = "due") -> dict:  # type: ignore[type-arg]
    return {u: make_ctx(u, stage=stage, to=[addr(u)]) for u in units}


def _rows(store: Store) -> dict[str, NoticeRow]:
    with store.session() as s:
        return {r.unit: r for r in s.scalars(select(NoticeRow))}


def test_planning_twice_adds_nothing(store: Store) -> None:
    assert _plan(store) == 4
    assert _plan(store) == 0
    assert _plan(store, [*UNITS, "市民政局"]) == 1
    rows = _rows(store)
    assert {r.state for r in rows.values()} == {"planned"}
    assert rows["市经信局"].recipients == ["u1@example.gov.cn"]
    assert rows["市经信局"].message_id == mid("市经信局")
    # another stage or channel is another notice
    assert _plan(store, stage="overdue") == 4
    assert plan_notices(store, "2026Q4", "due", [("市发改委", ["x@y.cn"], "<m@x>")], channel="im") == 1


def test_deliver_sends_each_once_and_a_rerun_sends_nothing(store: Store) -> None:
    _plan(store)
    sender = RecordingSender()
    progress: list[tuple[str, str]] = []
    report = deliver(
        store,
        "2026Q4",
        "due",
        build=build_from(_contexts()),
        sender=sender,
        on_progress=lambda *a: progress.append(a),
    )
    assert (report.sent, report.skipped, report.failed, report.already_sent) == (4, 0, 0, 0)
    assert [m["To"] for m in sender.sent] == [addr(u) for u in UNITS]
    assert progress == [(u, "sent") for u in UNITS]
    rows = _rows(store)
    for unit, row in rows.items():
        assert row.state == "sent" and row.sent_at is not None and row.attempts == 1
        assert row.subject is not None and unit in row.subject
        assert row.message_id == mid(unit)
    again = deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=sender)
    assert (again.sent, again.already_sent) == (0, 4)
    assert len(sender.sent) == 4


def test_a_unit_that_submitted_since_planning_is_skipped_and_rechecked_later(store: Store) -> None:
    _plan(store)
    submitted = {"市经信局"}
    sender = RecordingSender()
    build = build_from(_contexts(), still_missing=lambda u: u not in submitted)
    report = deliver(store, "2026Q4", "due", build=build, sender=sender)
    assert (report.sent, report.skipped) == (3, 1)
    assert _rows(store)["市经信局"].state == "skipped"
    assert addr("市经信局") not in {m["To"] for m in sender.sent}
    # still nothing missing: a rerun sends nothing
    assert deliver(store, "2026Q4", "due", build=build, sender=sender).sent == 0
    # its submission was later found unusable: the re-check now says it is missing again
    submitted.clear()
    late = deliver(store, "2026Q4", "due", build=build, sender=sender)
    assert late.sent == 1 and _rows(store)["市经信局"].state == "sent"


def test_a_row_left_in_sending_by_a_crash_is_sent_again_but_sent_rows_are_not(store: Store) -> None:
    _plan(store)
    with store.session() as s:  # what a run killed mid-send leaves behind
        s.execute(update(NoticeRow).where(NoticeRow.unit == "市发改委").values(state="sent"))
        s.execute(update(NoticeRow).where(NoticeRow.unit == "市经信局").values(state="sending", attempts=1))
    sender = RecordingSender()
    report = deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=sender)
    assert report.sent == 3 and report.already_sent == 1
    assert sorted(m["To"] for m in sender.sent) == sorted(addr(u) for u in UNITS[1:])
    assert _rows(store)["市经信局"].attempts == 2


def test_permanent_refusal_is_recorded_and_does_not_stop_the_batch(store: Store) -> None:
    _plan(store)
    sender = RecordingSender(refuse={addr("市经信局"): "550 5.1.1 mailbox unavailable"})
    report = deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=sender)
    assert (report.sent, report.failed) == (3, 1)
    row = _rows(store)["市经信局"]
    assert row.state == "failed" and is_permanent_failure(row)
    assert row.failed_recipients == {addr("市经信局"): "550 5.1.1 mailbox unavailable"}
    assert any("市经信局: failed" in line for line in report.lines)
    # not retried by itself...
    again = deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=RecordingSender())
    assert (again.sent, again.already_failed) == (0, 1)
    # ...but on request, once the address is fixed
    fixed = RecordingSender()
    retried = deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=fixed, retry_failed=True)
    assert retried.sent == 1 and _rows(store)["市经信局"].state == "sent"


def test_partial_refusal_is_sent_with_the_refused_recipient_noted(store: Store) -> None:
    plan_notices(store, "2026Q4", "due", [("市发改委", ["a@x.cn", "b@x.cn"], mid("市发改委"))])
    ctx = {"市发改委": make_ctx("市发改委", to=["a@x.cn", "b@x.cn"])}
    report = deliver(
        store, "2026Q4", "due", build=build_from(ctx), sender=RecordingSender(refuse={"b@x.cn": "550 no"})
    )
    row = _rows(store)["市发改委"]
    assert report.sent == 1 and row.state == "sent" and row.failed_recipients == {"b@x.cn": "550 no"}


def test_transport_errors_are_retried_next_run_and_a_dead_server_stops_the_batch(store: Store) -> None:
    _plan(store)
    flaky = RecordingSender(raise_for={addr("市经信局")})
    report = deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=flaky)
    assert (report.sent, report.failed) == (3, 1)
    row = _rows(store)["市经信局"]
    assert row.state == "failed" and not is_permanent_failure(row) and "server went away" in (row.error or "")
    healed = deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=RecordingSender())
    assert healed.sent == 1 and _rows(store)["市经信局"].state == "sent"

    _plan(store, stage="overdue")
    dead = RecordingSender(raise_for={addr(u) for u in UNITS})
    stopped = deliver(
        store,
        "2026Q4",
        "overdue",
        build=build_from(_contexts(stage="overdue")),
        sender=dead,
        max_consecutive_errors=2,
    )
    assert stopped.failed == 2 and stopped.pending == 2 and stopped.stopped
    states = sorted(r.state for r in _rows_stage(store, "overdue"))
    assert states == ["failed", "failed", "planned", "planned"]


def _rows_stage(store: Store, stage: str) -> list[NoticeRow]:
    with store.session() as s:
        return list(s.scalars(select(NoticeRow).where(NoticeRow.stage == stage)))


def test_a_unit_whose_notice_cannot_be_built_fails_alone(store: Store) -> None:
    _plan(store)
    contexts = _contexts()

    def build(unit: str) -> EmailMessage | None:
        if unit == "市大数据局":
            raise KeyError("unit missing from the directory")
        return build_from(contexts)(unit)

    report = deliver(store, "2026Q4", "due", build=build, sender=RecordingSender())
    assert (report.sent, report.failed) == (3, 1)
    assert "directory" in (_rows(store)["市大数据局"].error or "")


def test_a_row_claimed_by_another_run_is_left_to_it(store: Store) -> None:
    _plan(store, ["市发改委", "市经信局"])
    sender = RecordingSender()

    def build(unit: str) -> EmailMessage | None:
        if unit == "市发改委":  # meanwhile another run sends 市经信局
            with store.session() as s:
                s.execute(update(NoticeRow).where(NoticeRow.unit == "市经信局").values(state="sent"))
        return build_from(_contexts())(unit)

    report = deliver(store, "2026Q4", "due", build=build, sender=sender)
    assert report.sent == 1 and [m["To"] for m in sender.sent] == [addr("市发改委")]


def test_eml_copies_are_written_when_asked(store: Store, tmp_path: Path) -> None:
    _plan(store, ["市发改委"])
    deliver(store, "2026Q4", "due", build=build_from(_contexts()), sender=RecordingSender(), eml_dir=tmp_path)
    row = _rows(store)["市发改委"]
    assert row.eml_path and Path(row.eml_path).parent == tmp_path
    parsed = email.message_from_bytes(Path(row.eml_path).read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == mid("市发改委")


@pytest.mark.parametrize("header", ["To", "Cc", "Bcc"])
def test_recipients_of_reads_all_address_headers(header: str) -> None:
    msg = EmailMessage()
    msg["To"] = "张三 <a@x.cn>, b@x.cn"
    msg[header if header != "To" else "Cc"] = "c@x.cn, A@x.cn"
    assert recipients_of(msg) == ["a@x.cn", "b@x.cn", "c@x.cn"]
