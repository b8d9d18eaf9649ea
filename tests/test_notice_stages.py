"""Notice stages end to end on the seed plan: real SMTP on loopback, the outbox, the re-check,
and each unit seeing only its own items."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from connectors.mail.loopback import LoopbackSmtpServer
from connectors.mail.smtp import SmtpSender
from duban.collect.intake import Received, store_submission
from duban.reconcile import expected_pairs
from duban.settings import REPO_ROOT, get_settings
from duban_app.catalogue import import_plan
from duban_app.context import AppContext
from duban_app.notices import run_stage
from tests.builders import at, reported

PERIOD = "2026Q4"
LABEL = re.compile(r"\[任务编号 ([^\]]+)\]")


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with LoopbackSmtpServer(tmp_path / "mail") as server:
        monkeypatch.setenv("DUBAN_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DUBAN_SMTP_PORT", str(server.port))
        get_settings.cache_clear()
        yield server


@pytest.fixture
def ctx(smtp):
    c = AppContext()
    import_plan(c, REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt")
    yield c
    c.close()


def _assigned(c: AppContext) -> dict[str, set[str]]:
    cat, _ = c.catalogue()
    out: dict[str, set[str]] = {}
    for item_id, unit, _role in expected_pairs(cat):
        out.setdefault(unit, set()).add(item_id)
    return out


def _submit_all(c: AppContext, unit: str, items: set[str], sha: str) -> None:
    store_submission(
        c.store,
        received=Received("file", f"/in/{unit}.xlsx", at(date(2027, 1, 4)), sha256=sha * 64),
        period=PERIOD,
        unit=unit,
        items=[reported(i, unit) for i in sorted(items)],
    )


def _unit_of(msg) -> str:
    return str(msg["X-Duban-Notice"]).split("/", 2)[2]


def test_remind_sends_one_message_per_unit_with_missing_items_and_never_twice(ctx, smtp):
    assigned = _assigned(ctx)
    complete = sorted(assigned)[:10]
    for n, unit in enumerate(complete):
        _submit_all(ctx, unit, assigned[unit], f"{n:x}")
    owing = set(assigned) - set(complete)
    cat, _ = ctx.catalogue()
    label = {it.id: str(it.number) if it.number is not None else it.id for it in cat.items}
    labels = {u: {label[i] for i in ids} for u, ids in assigned.items()}
    res = run_stage(ctx, PERIOD, "remind")
    assert res.report.sent == len(owing) == len(smtp.messages)
    assert {_unit_of(m) for m in smtp.messages} == owing
    for msg in smtp.messages:
        unit = _unit_of(msg)
        text = msg.get_body(("plain",)).get_content()
        assert set(LABEL.findall(text)) == labels[unit], unit  # all its items, nobody else's
        assert ctx.directory.get(unit).emails[0] in msg["To"]
    again = run_stage(ctx, PERIOD, "remind")
    assert (again.report.sent, again.report.already_sent, len(smtp.messages)) == (0, len(owing), len(owing))


def test_a_unit_that_submits_between_planning_and_sending_gets_nothing(ctx, smtp):
    assigned = _assigned(ctx)
    late_comer = sorted(assigned)[-1]

    class SubmitsFirst(SmtpSender):
        """Before the first message leaves, the last unit in line hands in everything."""

        def send(self, msg):
            if not getattr(self, "_done", False):
                self._done = True
                _submit_all(ctx, late_comer, assigned[late_comer], "f")
            return super().send(msg)

    res = run_stage(ctx, PERIOD, "due", sender=SubmitsFirst(ctx.settings.smtp))
    assert res.report.skipped == 1
    assert late_comer not in {_unit_of(m) for m in smtp.messages}
    assert len(smtp.messages) == len(assigned) - 1


def test_opening_notice_attaches_a_template_holding_only_the_units_items(ctx, smtp):
    assigned = _assigned(ctx)
    res = run_stage(ctx, PERIOD, "open")
    assert res.report.sent == len(assigned)
    for msg in smtp.messages:
        unit = _unit_of(msg)
        (att,) = list(msg.iter_attachments())
        assert att.get_filename().endswith(".xlsx") and unit in att.get_filename()
        wb = openpyxl.load_workbook(io.BytesIO(att.get_content()))
        meta = {r[0]: r[1] for r in wb["_duban"].iter_rows(values_only=True)}
        assert meta["unit"] == unit and meta["period"] == PERIOD
        ids = {r[0] for r in wb["填报表"].iter_rows(min_row=4, values_only=True) if r[0]}
        assert ids == assigned[unit]


def test_overdue_copies_the_supervisor_and_the_office(ctx, smtp):
    res = run_stage(ctx, PERIOD, "overdue")
    assert res.report.sent > 0
    office = ctx.settings.office.email
    with_supervisor = [u for u in ctx.directory.units if u.supervisor is not None]
    assert with_supervisor
    for msg in smtp.messages:
        unit = ctx.directory.get(_unit_of(msg))
        assert office in msg["Cc"]
        if unit.supervisor is not None:
            assert unit.supervisor.email in msg["Cc"]
