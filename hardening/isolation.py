"""A notice, template or attachment for one unit never holds another unit's rows.

Units complained that reminder links exposed other units' data; duban promises each unit
sees only its own rows. The property: whatever mix of units submitted last period (their
values pre-fill this period's templates), submitted this period with invalid values (which
notices quote back), or did not submit at all, every message a notice stage produces — its
text, its HTML and its attached template — carries marks of its addressee only, and the
template lists exactly the addressee's own items. Every row stored here carries a mark
``⟦Unn⟧`` unique to its unit, so a leak is a substring search.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import time
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from duban.collect.intake import Received, store_submission
from duban.collect.templates import unit_items
from duban.collect.validate import validate_table
from duban.domain import FIELDS, SheetTable, SubmissionRow
from duban.store.db import SHANGHAI
from duban_app.context import AppContext
from duban_app.notices import run_stage
from hardening.crash import WHEN
from hardening.report import CampaignResult
from hardening.world import World

__all__ = ["FATES", "STAGES", "check_messages", "isolation", "mark", "seed_state"]

FATES = ("silent", "previous", "valid", "invalid", "previous+invalid")
STAGES = ("open", "remind", "due", "overdue")
_MARK = re.compile(r"⟦U\d{2}⟧")


def mark(index: int) -> str:
    return f"⟦U{index:02d}⟧"


def _table(unit: str, items: list[Any], m: str, *, invalid: bool) -> SheetTable:
    rows = []
    for k, (item, _role) in enumerate(items):
        rows.append(
            SubmissionRow(
                row=4 + k,
                values={
                    "item_id": item.id,
                    "title": item.title,
                    "status": "推进中",
                    "progress": f"{m}八十左右" if invalid and k == 0 else 60,
                    "narrative": f"{m}完成阶段任务{k}",
                    "problems": f"{m}问题",
                    "next_steps": f"{m}计划",
                },
            )
        )
    return SheetTable(
        source=f"{unit}.xlsx",
        sheet="填报表",
        header_row=3,
        columns={
            f: FIELDS[f]
            for f in ("item_id", "title", "status", "progress", "narrative", "problems", "next_steps")
        },
        rows=rows,
    )


def seed_state(ctx: AppContext, fates: dict[str, str], marks: dict[str, str]) -> None:
    """Store each unit's submissions as its fate says (through the real validation and intake)."""
    catalogue, version = ctx.catalogue()
    for n, (unit, fate) in enumerate(sorted(fates.items())):
        items = unit_items(catalogue, unit)
        todo = []
        if "previous" in fate:
            todo.append(("2026Q3", datetime(2026, 10, 9, 10, tzinfo=SHANGHAI), False))
        if fate in ("valid", "invalid", "previous+invalid"):
            todo.append(("2026Q4", datetime(2027, 1, 5, 10, tzinfo=SHANGHAI), "invalid" in fate))
        for period, at, invalid in todo:
            table = _table(unit, items, marks[unit], invalid=invalid)
            reported, findings = validate_table(table, catalogue, unit, period)
            store_submission(
                ctx.store,
                received=Received("file", f"{period}-{n}.xlsx", at, sha256=f"{period}-{unit}"),
                period=period,
                unit=unit,
                items=reported,
                findings=findings,
                catalogue_version=version,
            )


def _texts(msg: EmailMessage) -> tuple[str, list[bytes]]:
    text, attachments = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_filename():
            attachments.append(part.get_payload(decode=True) or b"")
        else:
            text.append(part.get_content())
    return "\n".join(text + [str(v) for v in msg.values()]), attachments


def _cells(xlsx: bytes) -> tuple[list[list[str]], dict[str, str]]:
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(xlsx), read_only=True)
    rows = [["" if v is None else str(v) for v in r] for r in wb["填报表"].iter_rows(values_only=True)]
    meta = {str(r[0]): str(r[1]) for r in wb["_duban"].iter_rows(values_only=True) if r and r[0] is not None}
    wb.close()
    return rows, meta


def check_messages(ctx: AppContext, outbox: Path, marks: dict[str, str]) -> tuple[int, int, list[str]]:
    """(messages checked, messages showing their own unit's mark, problems) for every .eml in ``outbox``."""
    catalogue, _ = ctx.catalogue()
    by_address = {e.lower(): u.short_name for u in ctx.directory.units for e in u.emails}
    problems: list[str] = []
    own_seen = 0
    files = sorted(outbox.glob("*.eml"))
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        to = [a.addr_spec.lower() for a in msg["To"].addresses]
        unit = by_address.get(to[0]) if to else None
        if unit is None:
            problems.append(f"{path.name}: addressed to no known unit ({to})")
            continue
        own = marks[unit]
        text, attachments = _texts(msg)
        blobs = [text]
        own_ids = {it.id for it, _r in unit_items(catalogue, unit)}
        for data in attachments:
            rows, meta = _cells(data)
            if meta.get("unit") != unit:
                problems.append(f"{unit}: attached template says unit {meta.get('unit')!r}")
            ids = [r[0] for r in rows[3:] if r and r[0]]
            if set(ids) != own_ids or len(ids) != len(own_ids):
                problems.append(
                    f"{unit}: template lists {sorted(set(ids) ^ own_ids)[:5]} beyond/short of its own"
                )
            blobs.append("\n".join("\t".join(r) for r in rows))
        seen = {m for b in blobs for m in _MARK.findall(b)}
        own_seen += own in seen
        foreign = seen - {own}
        if foreign:
            problems.append(
                f"{unit}: its {msg['X-Duban-Notice']} notice shows other units' rows {sorted(foreign)[:3]}"
            )
    return len(files), own_seen, problems


def _one_case(
    world: World, fates: dict[str, str], stage: str, res: CampaignResult, label: str
) -> tuple[int, int]:
    marks = {u: mark(i) for i, u in enumerate(world.units)}
    with world.trial_of("fresh") as t:
        ctx = AppContext(t.settings(world))
        try:
            seed_state(ctx, fates, marks)
            outbox = t.home / "outbox"
            report = run_stage(
                ctx, "2026Q4", stage, dry_run=True, outbox_dir=outbox, when=lambda: WHEN
            ).report
            if report.failed:
                res.problem(f"{label}: {report.failed} notice(s) failed to build: {report.lines[:2]}")
            n, own, problems = check_messages(ctx, outbox, marks)
        finally:
            ctx.close()
    for p in problems:
        res.problem(f"{label}: {p}")
    return n, own


def isolation(
    world: World, *, examples: int, seed_value: int = 10, stages: tuple[str, ...] = STAGES
) -> CampaignResult:
    """A property over the seed's units: a fate per unit and a stage drawn, every message checked."""
    res = CampaignResult(
        "isolation: notices and templates",
        "hypothesis: random fate per seed unit × stage; every notice, HTML part and attached "
        f"template searched for other units' marks ({examples} examples)",
    )
    started = time.monotonic()
    checked = marked = 0

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.lists(st.sampled_from(FATES), min_size=len(world.units), max_size=len(world.units)),
        st.sampled_from(stages),
    )
    def body(fate_list: list[str], stage: str) -> None:
        nonlocal checked, marked
        res.trials += 1
        fates = dict(zip(world.units, fate_list, strict=True))
        n, own = _one_case(world, fates, stage, res, f"example {res.trials} ({stage})")
        checked += n
        marked += own

    seed(seed_value)(body)()
    res.counts.update(messages=checked, quoting_own_rows=marked)
    res.notes.append(
        f"{checked} messages checked over {res.trials} examples ({len(world.units)} units); {marked} of them "
        "quote their own unit's rows (pre-filled or invalid values), none another's"
    )
    if checked and not marked:
        res.problem("no message quoted any row at all: the property was not exercised")
    res.seconds = time.monotonic() - started
    return res
