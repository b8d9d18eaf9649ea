"""Job: a notice stage for a period — plan, re-check each unit, render, send through the outbox.

Who gets a notice: at the ``open`` stage every unit with assignments (with its pre-filled
template); at later stages every unit that still has missing items or invalid fields. The
state is computed again right before each message is built, so a unit that has submitted
in the meantime gets nothing. A unit's notice lists only its own items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from connectors.mail.eml import DryRunSender
from connectors.mail.im import ImSender
from connectors.mail.smtp import SmtpSender
from duban.collect.templates import template_bytes, template_filename
from duban.domain import Catalogue, ReportedItem
from duban.entries import received_items
from duban.ledger import invalid_values
from duban.notices.outbox import DeliveryReport, deliver, plan_notices
from duban.notices.render import InvalidField, NoticeContext, NoticeItem, message_id, render_notice
from duban.periods import Period, parse_period, previous_period
from duban.reconcile import assignment_role, current_entries, unit_items
from duban.settings import StageConfig
from duban.store.db import SHANGHAI
from duban.units import Unit
from duban_app.context import AppContext

__all__ = ["StageRun", "notice_plan", "run_stage"]


@dataclass
class StageRun:
    period: str
    stage: str
    planned: int
    report: DeliveryReport
    im: DeliveryReport | None = None


#: id(catalogue) → (catalogue, item id → (number, title, lead unit)): a catalogue is immutable.
_ITEMS: dict[int, tuple[Catalogue, dict[str, tuple[int | None, str, str | None]]]] = {}


def _items(catalogue: Catalogue) -> dict[str, tuple[int | None, str, str | None]]:
    hit = _ITEMS.get(id(catalogue))
    if hit is None or hit[0] is not catalogue:
        _ITEMS.clear()
        info = {it.id: (it.number, it.title, it.lead_unit) for it in catalogue.items}
        hit = _ITEMS[id(catalogue)] = (catalogue, info)
    return hit[1]


def _notice_items(catalogue: Catalogue, unit: str, item_ids: Iterable[str]) -> list[NoticeItem]:
    info = _items(catalogue)
    return [
        NoticeItem(i, info[i][0], info[i][1], str(assignment_role(catalogue, unit, i)), info[i][2])
        for i in item_ids
    ]


def _invalid(ctx: AppContext, period: str, unit: str | None) -> dict[str, list[InvalidField]]:
    out: dict[str, list[InvalidField]] = defaultdict(list)
    for u, item_id, ev, message in invalid_values(ctx.store, period, unit=unit):
        row, column, value = ev.get("row"), str(ev.get("column", "")), str(ev.get("value", ""))
        out[u].append(InvalidField(item_id, row, column, value, message))
    return out


def _recipients(unit: Unit, stage: StageConfig, office_email: str) -> tuple[list[str], list[str]]:
    cc: list[str] = []
    if stage.copy_supervisor and unit.supervisor is not None:
        cc.append(unit.supervisor.email)
    if stage.copy_office and office_email:
        cc.append(office_email)
    return list(unit.emails), cc


def _due(
    ctx: AppContext, catalogue: Catalogue, period: Period, stage: StageConfig, only: str | None
) -> Iterator[tuple[str, Unit, list[str], list[InvalidField]]]:
    """(unit name, unit, items it owes or — at the opening stage — all its items, invalid fields)
    for each unit this stage would write to now."""
    assigned = unit_items(catalogue)
    received = received_items(ctx.store, period.key, unit=only)
    invalid = _invalid(ctx, period.key, only)
    for short in assigned if only is None else [only]:
        items = assigned.get(short, ())
        got = received.get(short, set())
        owed = [i for i in items if i not in got]
        if stage.id != "open" and not owed and not invalid.get(short):
            continue
        try:
            unit = ctx.directory.get(short)
        except KeyError:
            continue  # an unresolved name: `duban units check` reports it; never guess an address
        if unit.emails:
            yield short, unit, list(items) if stage.id == "open" else owed, invalid.get(short, [])


def notice_plan(
    ctx: AppContext, catalogue: Catalogue, period: Period, stage: StageConfig, *, only: str | None = None
) -> dict[str, NoticeContext]:
    """The notices this stage would send now, by unit (only one unit's with ``only``).

    Units that owe nothing get none (except at the opening stage).
    """
    s = ctx.settings
    out: dict[str, NoticeContext] = {}
    for short, unit, item_ids, invalid in _due(ctx, catalogue, period, stage, only):
        to, cc = _recipients(unit, stage, s.office.email)
        out[short] = NoticeContext(
            unit_short=short,
            unit_full=unit.full_name,
            to=to,
            cc=cc,
            period_key=period.key,
            period_label=period.label_zh,
            deadline=period.deadline,
            stage_id=stage.id,
            stage_name=stage.name,
            plan_title=catalogue.plan.title,
            plan_doc_number=catalogue.plan.doc_number,
            office_name=s.office.name,
            office_email=s.office.email,
            office_phone=s.office.phone,
            submit_hint=s.office.submit_hint,
            missing=_notice_items(catalogue, short, item_ids),
            invalid=invalid,
        )
    return out


def _previous_entries(ctx: AppContext, period: Period, unit: str) -> dict[str, ReportedItem]:
    prev = previous_period(period, ctx.settings)
    return {
        item_id: ReportedItem(
            item_id, unit, e.status, e.progress, e.narrative, e.problems, e.next_steps, e.coordination
        )
        for (u, item_id), e in current_entries(ctx.store, prev.key, unit=unit).items()
        if u == unit
    }


def run_stage(
    ctx: AppContext,
    period_key: str,
    stage_id: str,
    *,
    dry_run: bool = False,
    outbox_dir: Path | None = None,
    when: Callable[[], datetime] | None = None,
    sender: AbstractContextManager | None = None,
    password: str | None = None,
) -> StageRun:
    """Plan and deliver one stage; safe to run again (the outbox never re-sends what was sent)."""
    s = ctx.settings
    catalogue, version = ctx.catalogue()
    period = parse_period(period_key, s)
    stage = s.stage(stage_id)
    clock = when or (lambda: datetime.now(SHANGHAI))
    domain = s.smtp.mail_from.rpartition("@")[2].strip(">") or "duban.local"
    channel = "dry-run" if dry_run else "email"
    # who gets a notice, and its recipients (the notice itself is composed right before sending)
    plan = {
        short: _recipients(unit, stage, s.office.email)
        for short, unit, _i, _v in _due(ctx, catalogue, period, stage, None)
    }
    planned = plan_notices(
        ctx.store,
        period.key,
        stage.id,
        [(u, to + cc, message_id(u, period.key, stage.id, domain)) for u, (to, cc) in plan.items()],
        channel=channel,
    )

    def build(unit: str) -> EmailMessage | None:
        # the re-check, right before sending: the notice says what the store says now
        fresh = notice_plan(ctx, catalogue, period, stage, only=unit).get(unit)
        if fresh is None:
            return None
        if stage.attach_template:
            u = ctx.directory.get(unit)
            kwargs = {
                "catalogue": catalogue,
                "unit": u,
                "period": period,
                "catalogue_version": version,
                "previous": _previous_entries(ctx, period, unit),
                "plan_title": catalogue.plan.title,
            }
            fresh.attachment = (template_filename(u, period), template_bytes(**kwargs))
        return render_notice(fresh, mail_from=s.smtp.mail_from, when=clock())

    if sender is None:
        out = outbox_dir or s.path("outbox")
        sender = DryRunSender(out) if dry_run else SmtpSender(s.smtp, password=password)
    with sender as transport:
        report = deliver(ctx.store, period.key, stage.id, build=build, sender=transport, channel=channel)
    im_report = None
    im = None if dry_run else ImSender.from_config(s.im)
    if im is not None:  # the IM channel (off by default) goes through the same outbox, keyed apart
        plan_notices(
            ctx.store,
            period.key,
            stage.id,
            [(u, [], message_id(u, period.key, stage.id, domain)) for u in plan],
            channel="im",
        )
        with im as transport:
            im_report = deliver(ctx.store, period.key, stage.id, build=build, sender=transport, channel="im")
    return StageRun(period.key, stage.id, planned, report, im_report)
