"""The outbox: every notice is recorded before and after it is sent, so it goes out at most once.

Email has no exactly-once. The outbox narrows the gap to one message: a row keyed by
(unit, period, stage, channel) moves ``planned → sending → sent | failed | skipped`` and
each move is committed before the next side effect. A process killed at any point leaves
at most one row in ``sending``; the next run re-sends that one (the only possible
duplicate, recognisable by its deterministic Message-ID) and everything still ``planned``,
and never touches what is ``sent``. The unit's state is re-checked (``build`` returning
``None``) right before its message leaves, so a unit that submitted since planning gets
nothing. Sending itself is a callable passed in: this module imports no connector.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Update, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from duban.notices.mime import header_text, plain_address
from duban.notices.render import write_eml
from duban.store.db import Store, now
from duban.store.models import NoticeRow

__all__ = [
    "DeliveryReport",
    "SendResult",
    "Sender",
    "deliver",
    "is_permanent_failure",
    "plan_notices",
    "recipients_of",
]

log = logging.getLogger(__name__)

PLANNED, SENDING, SENT, FAILED, SKIPPED = "planned", "sending", "sent", "failed", "skipped"


@dataclass
class SendResult:
    """What the transport said: who accepted the message, who refused it for good and why."""

    accepted: list[str]
    refused: dict[str, str] = field(default_factory=dict)  # recipient → "550 5.1.1 ..."


class Sender(Protocol):
    """Sends one message. Raises for transient trouble (after its own retries); reports
    permanent per-recipient refusals in the result."""

    def send(self, msg: EmailMessage) -> SendResult: ...


@dataclass
class DeliveryReport:
    """Counts of one ``deliver`` run, and one line per unit touched."""

    sent: int = 0
    skipped: int = 0
    failed: int = 0
    already_sent: int = 0
    already_failed: int = 0  # failed for good in an earlier run, not retried (see retry_failed)
    pending: int = 0  # left for a later run (the run stopped early)
    stopped: str | None = None  # why the run stopped early, if it did
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.pending == 0


def recipients_of(msg: EmailMessage) -> list[str]:
    """Envelope recipients from To, Cc and Bcc, de-duplicated in order."""
    values = [raw for name, raw in msg.raw_items() if name.lower() in ("to", "cc", "bcc")]
    # address lists stored as plain text (as ``assemble`` writes them) need no header parser
    raw = all(type(v) is str for v in values)
    plain = [a.strip() for v in values for a in "".join(v.splitlines()).split(",")] if raw else []
    if plain and all(plain_address(a) for a in plain):
        found = plain
    else:
        parsed = [str(v) for h in ("To", "Cc", "Bcc") for v in (msg.get_all(h) or [])]
        found = [addr for _, addr in getaddresses(parsed)]
    seen: dict[str, None] = {}
    lowered: set[str] = set()
    for addr in found:
        if addr and addr.lower() not in lowered:
            seen[addr] = None
            lowered.add(addr.lower())
    return list(seen)


def is_permanent_failure(row: NoticeRow) -> bool:
    """A failed row whose every recipient was refused for good; it needs a person, not a retry."""
    return row.state == FAILED and bool(row.failed_recipients)


def plan_notices(
    store: Store,
    period: str,
    stage: str,
    units: Iterable[tuple[str, list[str], str]],
    channel: str = "email",
) -> int:
    """Record a ``planned`` notice for each (unit, recipients, message_id) not yet in the outbox.

    Existing rows, whatever their state, are left alone, so planning twice is harmless.
    Returns how many rows were new.
    """
    wanted = {u: (list(r), mid) for u, r, mid in units}
    if not wanted:
        return 0
    with store.session() as s:
        existing = set(
            s.scalars(
                select(NoticeRow.unit).where(
                    NoticeRow.period == period, NoticeRow.stage == stage, NoticeRow.channel == channel
                )
            )
        )
    rows = [
        {
            "unit": unit,
            "period": period,
            "stage": stage,
            "channel": channel,
            "state": PLANNED,
            "message_id": mid,
            "recipients": recipients,
            "attempts": 0,
            "failed_recipients": {},
            "planned_at": now(),
        }
        for unit, (recipients, mid) in wanted.items()
        if unit not in existing
    ]
    if not rows:
        return 0
    try:
        with store.session() as s:
            s.execute(insert(NoticeRow), rows)
        return len(rows)
    except IntegrityError:  # a concurrent planner got there first: insert one by one
        added = 0
        for row in rows:
            try:
                with store.session() as s:
                    s.execute(insert(NoticeRow), [row])
                added += 1
            except IntegrityError:
                continue
        return added


#: The claim, as one statement built once: at province scale (1,000 notices, two commits each)
#: rebuilding and re-keying the UPDATE per message cost more than SQLite's commit.
_CLAIM = (
    update(NoticeRow)
    .where(NoticeRow.id == bindparam("v_id"), NoticeRow.state == bindparam("v_from"))
    .values(
        state=SENDING,
        sending_at=bindparam("v_at", type_=NoticeRow.sending_at.type),
        attempts=NoticeRow.attempts + 1,
    )
)
_FINISH: dict[tuple[str, ...], Update] = {}


def _claim(conn: Connection, row_id: int, from_state: str) -> bool:
    """Move a row to ``sending`` only if it is still in ``from_state`` (committed at once)."""
    with conn.begin():
        result = conn.execute(_CLAIM, {"v_id": row_id, "v_from": from_state, "v_at": now()})
        return result.rowcount == 1


def _finish(conn: Connection, row_id: int, **values: object) -> None:
    """Record how a claimed row ended (committed at once)."""
    names = tuple(sorted(values))
    stmt = _FINISH.get(names)
    if stmt is None:
        cols = NoticeRow.__table__.c
        stmt = _FINISH[names] = (
            update(NoticeRow)
            .where(NoticeRow.id == bindparam("v_id"))
            .values({n: bindparam(f"v_{n}", type_=cols[n].type) for n in names})
        )
    with conn.begin():
        conn.execute(stmt, {"v_id": row_id, **{f"v_{n}": v for n, v in values.items()}})


def deliver(
    store: Store,
    period: str,
    stage: str,
    *,
    build: Callable[[str], EmailMessage | None],
    sender: Sender,
    channel: str = "email",
    eml_dir: Path | None = None,
    on_progress: Callable[[str, str], None] | None = None,
    retry_failed: bool = False,
    max_consecutive_errors: int = 3,
) -> DeliveryReport:
    """Send every notice of (period, stage, channel) that has not been sent.

    For each row: claim it (``sending``, committed) → ``build(unit)`` re-checks the unit and
    renders its message (``None`` → ``skipped``) → ``sender.send`` → ``sent`` with
    ``sent_at`` (committed), or ``failed`` with the error and the refused recipients. Rows
    found in ``sending`` belong to a run that died mid-send and are sent again. Rows that
    failed for good (every recipient refused) are retried only with ``retry_failed``; rows
    that failed transiently are retried on every run. ``skipped`` rows are re-checked, so a
    unit whose submission was later found unusable still gets its notice. After
    ``max_consecutive_errors`` transport errors in a row (the server is down) the run stops
    and leaves the rest for later; one bad unit never stops the batch.
    """
    report = DeliveryReport()
    key = (NoticeRow.period == period, NoticeRow.stage == stage, NoticeRow.channel == channel)
    with store.session() as s:
        report.already_sent = s.scalar(select(func.count()).where(*key, NoticeRow.state == SENT)) or 0
        rows = list(
            s.execute(
                select(NoticeRow.id, NoticeRow.unit, NoticeRow.state, NoticeRow.failed_recipients)
                .where(*key, NoticeRow.state.in_((PLANNED, SENDING, FAILED, SKIPPED)))
                .order_by(NoticeRow.id)
            )
        )
    todo = [r for r in rows if not (r.state == FAILED and r.failed_recipients and not retry_failed)]
    report.already_failed = len(rows) - len(todo)
    errors_in_a_row = 0

    def note(unit: str, state: str, detail: str = "") -> None:
        report.lines.append(f"{unit}: {state}{' — ' + detail if detail else ''}")
        if on_progress is not None:
            on_progress(unit, state)

    # one connection for the run's bookkeeping: each move is still its own committed transaction
    with store.engine.connect() as conn:
        for index, row in enumerate(todo):
            if errors_in_a_row >= max_consecutive_errors:
                report.pending = len(todo) - index
                report.stopped = f"stopped after {errors_in_a_row} transport errors in a row"
                log.warning("outbox %s/%s/%s: %s", period, stage, channel, report.stopped)
                break
            if row.state == SENDING:
                log.warning("outbox: %s was in flight when a run stopped; sending it again", row.unit)
            if not _claim(conn, row.id, row.state):
                continue  # another run took it
            try:
                msg = build(row.unit)
            except Exception as exc:  # a bad unit must not stop the batch
                log.exception("outbox: building the notice for %s failed", row.unit)
                _finish(conn, row.id, state=FAILED, error=f"build: {type(exc).__name__}: {exc}")
                report.failed += 1
                note(row.unit, FAILED, f"build: {exc}")
                continue
            if msg is None:
                _finish(conn, row.id, state=SKIPPED, error=None)
                report.skipped += 1
                note(row.unit, SKIPPED, "nothing missing any more")
                continue
            recipients = recipients_of(msg)
            eml_path = str(write_eml(msg, eml_dir)) if eml_dir is not None else None
            details = {
                "recipients": recipients,
                "subject": header_text(msg, "Subject"),
                "message_id": header_text(msg, "Message-ID") or None,
                "eml_path": eml_path,
            }
            details = {k: v for k, v in details.items() if v is not None}
            try:
                result = sender.send(msg)
            except Exception as exc:  # transient after the sender's own retries: retry next run
                errors_in_a_row += 1
                log.warning("outbox: sending to %s failed: %s: %s", row.unit, type(exc).__name__, exc)
                _finish(conn, row.id, state=FAILED, error=f"{type(exc).__name__}: {exc}", **details)
                report.failed += 1
                note(row.unit, FAILED, str(exc))
                continue
            errors_in_a_row = 0
            if result.accepted:
                _finish(
                    conn,
                    row.id,
                    state=SENT,
                    sent_at=now(),
                    error=None,
                    failed_recipients=dict(result.refused),
                    **details,
                )
                report.sent += 1
                note(row.unit, SENT, f"refused: {', '.join(result.refused)}" if result.refused else "")
            else:
                refused = dict(result.refused) or {r: "refused" for r in recipients}
                _finish(
                    conn,
                    row.id,
                    state=FAILED,
                    error="all recipients refused",
                    failed_recipients=refused,
                    **details,
                )
                report.failed += 1
                note(row.unit, FAILED, "; ".join(f"{r}: {why}" for r, why in refused.items()))
    return report
