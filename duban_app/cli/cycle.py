"""`duban reconcile`, `duban status`, `duban ledger`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duban_app.cli.common import console, fail, print_json, run, table
from duban_app.cycle import reconcile_period, status, write_ledger_file

__all__ = ["register"]

PeriodOpt = Annotated[str, typer.Option(help="e.g. 2026Q4")]


def reconcile(period: PeriodOpt) -> None:
    """Reconcile the period's submissions against the catalogue; stores the findings."""
    with run() as ctx:
        rep = reconcile_period(ctx, period)
        console.print(f"{rep.period}: expected {rep.expected}, received {rep.received}")
        table("findings", ["kind", "count"], sorted(rep.findings.items()))


def status_cmd(
    period: PeriodOpt, fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table"
) -> None:
    """Per unit: expected, on time, late, missing, invalid."""
    with run() as ctx:
        rows = status(ctx, period)
        if fmt == "json":
            print_json([u.as_json() for u in rows])
            return
        if fmt != "table":
            raise fail(f"--format must be table or json; got {fmt!r}", 2)
        table(
            f"status {period}",
            ["unit", "expected", "on time", "late", "missing", "invalid"],
            [(u.unit, u.expected, u.on_time, u.late, u.missing, u.invalid) for u in rows],
            styles=lambda r: "red" if r[4] else ("yellow" if r[3] or r[5] else ""),
        )


def ledger(period: PeriodOpt, out: Annotated[Path, typer.Option(help="the .xlsx to write")]) -> None:
    """The ledger (台账): one row per (item, unit) with status, narrative and findings."""
    with run() as ctx:
        path = write_ledger_file(ctx, period, out)
        console.print(f"ledger written to {path}")


def register(app: typer.Typer) -> None:
    app.command("reconcile")(reconcile)
    app.command("status")(status_cmd)
    app.command("ledger")(ledger)
