"""`duban remind` and `duban outbox`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from duban.store.models import NoticeRow
from duban_app.cli.common import console, fail, print_json, run, table
from duban_app.notices import run_stage

__all__ = ["register"]


def remind(
    period: Annotated[str, typer.Option(help="e.g. 2026Q4")],
    stage: Annotated[str, typer.Option(help="a stage id from config: open, remind, due, overdue")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="write .eml files instead of sending")] = False,
    outbox: Annotated[Path | None, typer.Option(help="folder for --dry-run .eml files")] = None,
) -> None:
    """Send a notice stage: one message per unit that still owes items; never twice."""
    with run() as ctx:
        res = run_stage(ctx, period, stage, dry_run=dry_run, outbox_dir=outbox)
        r = res.report
        console.print(
            f"{res.period} {res.stage}: planned {res.planned} new, sent {r.sent}, skipped {r.skipped}, "
            f"failed {r.failed}, already sent {r.already_sent}"
        )
        for line in r.lines:
            console.print(f"  {line}")
        if not r.ok:
            raise fail(r.stopped or f"{r.failed} notice(s) failed; rerun to retry", 1)


def outbox_cmd(
    period: Annotated[str | None, typer.Option(help="only this period")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
) -> None:
    """The outbox: every planned, sent, skipped or failed notice."""
    with run() as ctx, ctx.store.session() as s:
        q = select(NoticeRow).order_by(NoticeRow.period, NoticeRow.stage, NoticeRow.unit)
        if period:
            q = q.where(NoticeRow.period == period)
        rows = list(s.scalars(q))
        data = [
            {
                "unit": r.unit,
                "stage": r.stage,
                "channel": r.channel,
                "status": r.state,
                "message_id": r.message_id,
                "sent_at": r.sent_at.isoformat() if r.sent_at else None,
            }
            for r in rows
        ]
        if fmt == "json":
            print_json(data)
            return
        table(
            "outbox",
            ["unit", "stage", "channel", "status", "sent at", "error"],
            [
                (
                    r.unit,
                    r.stage,
                    r.channel,
                    r.state,
                    (r.sent_at.isoformat()[:16] if r.sent_at else ""),
                    r.error or "",
                )
                for r in rows
            ],
        )


def register(app: typer.Typer) -> None:
    app.command("remind")(remind)
    app.command("outbox")(outbox_cmd)
