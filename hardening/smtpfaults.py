"""SMTP faults during a notice stage: 421, 451, 550 for one recipient, dropped connections, TLS failures.

Each scenario runs ``run_stage`` (the real planner, renderer, outbox and ``SmtpSender``)
against a loopback SMTP server that misbehaves, then reruns the stage until it reports
nothing left (at most three reruns; a TLS scenario fixes the client's trust or security
setting before rerunning, as an operator would). Then: every unit of an undisturbed reference
run got its notice exactly once (no crash here, so no duplicate is allowed), a recipient
refused with 550 is recorded on its notice with the server's reply, and every run that
stopped said why.
"""

from __future__ import annotations

import random
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connectors.mail.loopback import DROP, FaultEvent, FaultPlan, LoopbackSmtpServer, self_signed_tls
from connectors.mail.smtp import SmtpSender
from duban.store.models import NoticeRow
from duban_app.context import AppContext
from duban_app.notices import run_stage
from hardening.crash import WHEN
from hardening.report import CampaignResult
from hardening.world import World

__all__ = ["SCENARIOS", "smtp_faults"]

MAX_RERUNS = 3
OFFICE = "szfb@lishui.example"  # config/settings.yaml office.email, copied on 督办 notices


@dataclass
class Scenario:
    """A fault set-up: server faults, the client's first and fixed settings, what must show."""

    name: str
    stage: str = "due"
    faults: Callable[[random.Random], Any] | None = None
    tls: bool = False  # the server offers STARTTLS with a self-signed certificate
    first: dict[str, Any] | None = None  # client smtp settings of the first run
    fixed: dict[str, Any] | None = None  # client smtp settings of the reruns
    refuse_one: bool = False  # one unit's only address is refused with 550
    refused_cc: str | None = None  # an address copied on every notice, refused with 550
    words: tuple[str, ...] = ()  # what a stopped run's errors must mention


def _random_data(rng: random.Random, replies: list[str], share: float) -> Callable[[FaultEvent], str | None]:
    def fault(ev: FaultEvent) -> str | None:
        if ev.phase == "DATA" and rng.random() < share:
            return rng.choice(replies)
        return None

    return fault


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "421 at DATA",
        faults=lambda r: _random_data(r, ["421 4.3.2 service not available"], 0.3),
        words=("421",),
    ),
    Scenario(
        "451 greylisting (every first attempt)",
        faults=lambda _r: (
            lambda ev: "451 4.7.1 greylisted" if ev.phase == "DATA" and ev.attempt == 1 else None
        ),
        words=("451",),
    ),
    Scenario("550 for one recipient", refuse_one=True, words=("550",)),
    Scenario(
        "550 for the office on every Cc",
        stage="overdue",
        refused_cc=OFFICE,
        faults=lambda _r: FaultPlan(recipient_replies={OFFICE: "550 5.1.1 mailbox unavailable"}),
        words=("550",),
    ),
    Scenario(
        "dropped connection at DATA",
        faults=lambda r: _random_data(r, [DROP], 0.25),
        words=("disconnect", "closed"),
    ),
    Scenario(
        "mixed 421/451/drop",
        faults=lambda r: _random_data(r, ["421 4.3.2 busy", "451 4.3.0 try again", DROP], 0.35),
        words=("421", "451", "disconnect", "closed"),
    ),
    Scenario(
        "TLS handshake: untrusted certificate",
        tls=True,
        first={"security": "starttls", "trust": False},
        fixed={"security": "starttls", "trust": True},
        words=("certificate",),
    ),
    Scenario(
        "TLS handshake: implicit TLS against a plain server",
        first={"security": "ssl"},
        fixed={"security": "none"},
        words=("ssl", "tls", "wrong version", "eof"),
    ),
)


def _sender(settings: Any, opts: dict[str, Any], trusting: ssl.SSLContext | None) -> SmtpSender:
    cfg = settings.smtp.model_copy(update={k: v for k, v in opts.items() if k != "trust"})
    ctx = trusting if opts.get("trust") else None
    return SmtpSender(cfg, backoff_s=0.005, ssl_context=ctx)


def _run(
    world: World,
    home: Path,
    url: str,
    port: int,
    stage: str,
    opts: dict[str, Any],
    trusting: ssl.SSLContext | None,
) -> Any:
    from hardening.world import settings_for

    settings = settings_for(
        home,
        url,
        world.config_dir,
        host="127.0.0.1",
        port=port,
        security="none",
        rate_per_second=0,
        timeout_s=5,
    )
    ctx = AppContext(settings)
    try:
        return run_stage(ctx, "2026Q4", stage, when=lambda: WHEN, sender=_sender(settings, opts, trusting))
    finally:
        ctx.close()


def _rows(url: str) -> list[NoticeRow]:
    from duban.store.db import Store

    store = Store(url)
    try:
        with store.session() as s:
            return list(s.scalars(select(NoticeRow)))
    finally:
        store.dispose()


def smtp_faults(
    world: World,
    *,
    trials: int,
    seed: int = 5,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    state: str = "half",
) -> CampaignResult:
    """``trials`` runs of every scenario (each a fresh copy of base ``state`` and a fresh server)."""
    res = CampaignResult("fault: SMTP", "; ".join(s.name for s in scenarios))
    rng = random.Random(seed)
    started = time.monotonic()
    expected = {stage: _reference(world, state, stage) for stage in {s.stage for s in scenarios}}
    stopped_runs = injected = 0
    for sc in scenarios:
        for k in range(trials):
            label = f"{sc.name} #{k}"
            with world.trial_of(state) as t:
                server_tls, trusting = self_signed_tls(t.home / "tls") if sc.tls else (None, None)
                refused_addr = None
                fault = sc.faults(rng) if sc.faults else None
                if sc.refuse_one:
                    unit = rng.choice(_planned_units(world, t, sc.stage))
                    refused_addr = _unit_email(world, unit)
                    fault = FaultPlan(recipient_replies={refused_addr: "550 5.1.1 no such mailbox"})
                with LoopbackSmtpServer(t.home / "mail", faults=fault, tls_context=server_tls) as srv:
                    reports = [
                        _run(world, t.home, t.url, srv.port, sc.stage, sc.first or {}, trusting).report
                    ]
                    while not reports[-1].ok and len(reports) <= MAX_RERUNS:
                        opts = sc.fixed or sc.first or {}
                        reports.append(_run(world, t.home, t.url, srv.port, sc.stage, opts, trusting).report)
                    counts = Counter(srv.message_ids())
                    disturbed = len(srv.replies) + srv.dropped
                rows = _rows(t.url)
                refusals = sum(1 for r in rows if r.failed_recipients)
                if not (disturbed or refusals or not reports[0].ok):
                    res.problem(f"{label}: no fault showed; the trial proves nothing")
                injected += disturbed + refusals
                _judge(res, label, sc, reports, rows, counts, expected[sc.stage], refused_addr)
                stopped_runs += sum(1 for r in reports if not r.ok)
            res.trials += 1
    res.counts.update(faults=injected, resumed=stopped_runs)
    res.notes.append(
        f"{injected} faulty replies, drops or refusals; {stopped_runs} run(s) ended with failures or "
        "stopped early and were resumed by a rerun"
    )
    res.seconds = time.monotonic() - started
    return res


def _reference(world: World, state: str, stage: str) -> set[str]:
    """Message-IDs of an undisturbed run of ``stage`` from base ``state``."""

    def run() -> set[str]:
        with world.trial_of(state) as t, LoopbackSmtpServer(t.home / "mail") as srv:
            _run(world, t.home, t.url, srv.port, stage, {}, None)
            return set(srv.message_ids())

    return world.memo(f"smtp:{state}:{stage}", run)


def _planned_units(world: World, t: Any, stage: str) -> list[str]:
    """Who the stage would notify now (a plan, nothing sent)."""
    from duban.periods import parse_period
    from duban_app.notices import notice_plan

    ctx = AppContext(t.settings(world))
    try:
        cat, _ = ctx.catalogue()
        return sorted(notice_plan(ctx, cat, parse_period("2026Q4", ctx.settings), ctx.settings.stage(stage)))
    finally:
        ctx.close()


def _unit_email(world: World, unit: str) -> str:
    from duban.units import UnitDirectory

    return UnitDirectory.load(world.config_dir / "units.yaml").get(unit).emails[0]


def _judge(
    res: CampaignResult,
    label: str,
    sc: Scenario,
    reports: list[Any],
    rows: list[NoticeRow],
    counts: Counter[str],
    expected: set[str],
    refused_addr: str | None,
) -> None:
    by_mid = {r.message_id: r for r in rows}
    refused_mids = {
        r.message_id for r in rows if refused_addr and refused_addr in (r.failed_recipients or {})
    }
    arrived = set(counts)
    missing = expected - arrived - refused_mids
    res.lost += len(missing)
    res.duplicated += sum(c - 1 for c in counts.values())
    if missing:
        res.problem(
            f"{label}: {len(missing)} notice(s) never arrived, e.g. {by_mid.get(next(iter(missing)))}"
        )
    if refused_addr:
        if len(refused_mids) != 1:
            res.problem(f"{label}: the 550 for {refused_addr} is not recorded on exactly one notice")
        for mid in refused_mids:
            row = by_mid[mid]
            if row.state != "failed" or "550" not in str(row.failed_recipients.get(refused_addr, "")):
                res.problem(f"{label}: refused notice is {row.state} with {row.failed_recipients}")
            if mid in arrived:
                res.problem(f"{label}: the refused notice arrived anyway")
    if sc.refused_cc:
        unrecorded = [
            r.unit for r in rows if r.state == "sent" and sc.refused_cc not in (r.failed_recipients or {})
        ]
        if unrecorded:
            res.problem(f"{label}: the refused Cc is not recorded on {len(unrecorded)} sent notice(s)")
    for r in rows:
        if r.state not in ("sent", "skipped") and r.message_id not in refused_mids:
            res.problem(f"{label}: notice for {r.unit} left {r.state}: {r.error}")
    first = reports[0]
    if not first.ok:
        text = " ".join([first.stopped or "", *first.lines, *(r.error or "" for r in rows)]).lower()
        if not any(w in text for w in sc.words):
            res.problem(f"{label}: the failed run does not say why ({sc.words}): {first.lines[:2]}")
