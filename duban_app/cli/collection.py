"""`duban periods show`, `duban templates`, `duban collect`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from duban.periods import parse_period, stage_dates, work_calendar
from duban_app.cli.common import console, run, table
from duban_app.collect import CollectReport, collect_api, collect_files, find_files, start_readers
from duban_app.cycle import write_templates

__all__ = ["register"]

periods_app = typer.Typer(help="Reporting periods and their calendar.", no_args_is_help=True)


@periods_app.command("show")
def periods_show(key: Annotated[str, typer.Argument(help="e.g. 2026Q4 or 2026M10")]) -> None:
    """Window, deadline and notice stage dates of a period (Chinese working-day calendar)."""
    with run() as ctx:
        p = parse_period(key, ctx.settings)
        cal = work_calendar(ctx.settings)
        rows = [
            ("period", f"{p.key} {p.label_zh}", ""),
            ("covers", f"{p.start} … {p.end}", ""),
            ("window opens", str(p.window_opens), cal.source(p.window_opens)),
            ("deadline", str(p.deadline), cal.source(p.deadline)),
        ]
        for sid, d in stage_dates(p, ctx.settings).items():
            rows.append((f"stage {sid} ({ctx.settings.stage(sid).name})", str(d), cal.source(d)))
        table(f"period {p.key}", ["", "date", "calendar"], rows)


def templates(
    period: Annotated[str, typer.Option(help="e.g. 2026Q4")],
    out: Annotated[Path, typer.Option(help="folder for the .xlsx files")],
) -> None:
    """Write one pre-filled template per unit, listing only that unit's items."""
    with run() as ctx:
        paths = write_templates(ctx, period, out)
        console.print(f"wrote {len(paths)} templates to {out}")


def _closing(rep: CollectReport) -> None:
    rows = [
        ("files read", rep.files),
        ("tables", rep.tables),
        ("new submissions", rep.submissions_new),
        ("already stored", rep.submissions_known),
        ("quarantined", rep.quarantined),
        ("items accepted", rep.items_accepted),
        ("API records new", rep.api_records_new),
        ("API records known", rep.api_records_known),
    ]
    rows += [(f"findings: {k}", v) for k, v in sorted(rep.findings.items())]
    table("collection", ["", "count"], rows)


def collect(
    period: Annotated[str | None, typer.Option(help="period when files do not say (e.g. 2026Q4)")] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="API source name(s) from config/sources.yaml")
    ] = None,
    from_: Annotated[Path | None, typer.Option("--from", help="an ad-hoc folder or file to read")] = None,
) -> None:
    """Collect submissions: files (--from, default $DUBAN_HOME/inbox) and configured API sources."""
    with run() as ctx:
        if period:
            parse_period(period, ctx.settings)  # a clear error for a malformed key, before any work
        rep = CollectReport()
        root = from_ or ctx.settings.path("inbox")
        if from_ is not None or root.exists():
            files = find_files(root)
            start_readers(ctx, len(files))
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
            ) as bar:
                task = bar.add_task("reading files", total=len(files))
                rep.merge(collect_files(ctx, files, period=period, on_file=lambda _p: bar.advance(task)))
        if (from_ is None or source) and ctx.settings.sources_path.exists():
            rep.merge(collect_api(ctx, source_names=source, period=period))
        _closing(rep)


def register(app: typer.Typer) -> None:
    app.add_typer(periods_app, name="periods")
    app.command("templates")(templates)
    app.command("collect")(collect)
