"""Job: a notice stage for a period — plan, re-check each unit, render, send through the outbox.

Who gets a notice: at the ``open`` stage every unit with assignments (with its pre-filled
template); at later stages every unit that still has missing items or invalid fields. The
state is computed again right before each message is built, so a unit that has submitted
in the meantime gets nothing. A unit's notice lists only its own items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from connectors.mail.eml import DryRunSender
from connectors.mail.im import ImSender
from connectors.mail.smtp import SmtpSender
from duban.collect.templates import template_bytes, template_filename
from duban.domain import Catalogue, FindingKind, ReportedItem
from duban.ledger import period_findings
from duban.notices.outbox import DeliveryReport, deliver, plan_notices
from duban.notices.render import InvalidField, NoticeContext, NoticeItem, message_id, render_notice
from duban.periods import Period, parse_period, previous_period
from duban.reconcile import Entry, current_entries, expected_pairs
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


_INDEX: dict[int, tuple[Catalogue, dict[str, list[NoticeItem]]]] = {}


def _assigned(catalogue: Catalogue) -> dict[str, list[NoticeItem]]:
    """unit → its items as NoticeItems, in catalogue order; built once per catalogue (immutable)."""
    hit = _INDEX.get(id(catalogue))
    if hit is None or hit[0] is not catalogue:
        items = {it.id: it for it in catalogue.items}
        leads = {it.id: it.lead_unit for it in catalogue.items}
        index: dict[str, list[NoticeItem]] = defaultdict(list)
        for item_id, unit, role in expected_pairs(catalogue):
            it = items[item_id]
            index[unit].append(NoticeItem(item_id, it.number, it.title, str(role), leads[item_id]))
        _INDEX.clear()
        hit = _INDEX[id(catalogue)] = (catalogue, dict(index))
    return hit[1]


def _owed(
    catalogue: Catalogue, entries: dict[tuple[str, str], Entry], only: str | None = None
) -> dict[str, list[NoticeItem]]:
    index = _assigned(catalogue)
    owed: dict[str, list[NoticeItem]] = defaultdict(list)
    for unit in index if only is None else [only]:
        for n in index.get(unit, ()):
            if (unit, n.item_id) not in entries:
                owed[unit].append(n)
    return owed


def _invalid(ctx: AppContext, period: str, unit: str | None) -> dict[str, list[InvalidField]]:
    out: dict[str, list[InvalidField]] = defaultdict(list)
    for f in period_findings(ctx.store, period, unit=unit):
        if f.kind == str(FindingKind.INVALID_VALUE) and f.unit and f.origin == "collect":
            ev = f.evidence or {}
            out[f.unit].append(
                InvalidField(
                    f.item_id,
                    ev.get("row"),
                    str(ev.get("column", "")),
                    str(ev.get("value", "")),
                    f.message_zh,
                )
            )
    return out


def _recipients(unit: Unit, stage: StageConfig, office_email: str) -> tuple[list[str], list[str]]:
    cc: list[str] = []
    if stage.copy_supervisor and unit.supervisor is not None:
        cc.append(unit.supervisor.email)
    if stage.copy_office and office_email:
        cc.append(office_email)
    return list(unit.emails), cc


def notice_plan(
    ctx: AppContext, catalogue: Catalogue, period: Period, stage: StageConfig, *, only: str | None = None
) -> dict[str, NoticeContext]:
    """The notices this stage would send now, by unit (only one unit's with ``only``).

    Units that owe nothing get none (except at the opening stage).
    """
    s = ctx.settings
    entries = current_entries(ctx.store, period.key, unit=only)
    owed = _owed(catalogue, entries, only)
    invalid = _invalid(ctx, period.key, only)
    units = sorted(_assigned(catalogue)) if only is None else [only]
    out: dict[str, NoticeContext] = {}
    for short in units:
        if stage.id != "open" and not owed.get(short) and not invalid.get(short):
            continue
        try:
            unit = ctx.directory.get(short)
        except KeyError:
            continue  # an unresolved name: `duban units check` reports it; never guess an address
        if not unit.emails:
            continue
        to, cc = _recipients(unit, stage, s.office.email)
        missing = owed.get(short, [])
        if stage.id == "open":
            missing = list(_assigned(catalogue).get(short, []))
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
            missing=missing,
            invalid=invalid.get(short, []),
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
    plan = notice_plan(ctx, catalogue, period, stage)
    planned = plan_notices(
        ctx.store,
        period.key,
        stage.id,
        [(u, n.to + n.cc, message_id(u, period.key, stage.id, domain)) for u, n in plan.items()],
        channel=channel,
    )

    def build(unit: str) -> EmailMessage | None:
        fresh = notice_plan(ctx, catalogue, period, stage, only=unit).get(
            unit
        )  # the re-check, right before sending
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
