"""`duban summary`: the quarterly bulletin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duban_app.cli.common import console, run, table
from duban_app.summary import write_bulletin

__all__ = ["register"]


def summary(
    period: Annotated[str, typer.Option(help="e.g. 2026Q4")],
    out: Annotated[Path | None, typer.Option(help="folder (default $DUBAN_HOME/bulletin/PERIOD)")] = None,
) -> None:
    """Write the bulletin: docx (official layout), PDF, HTML, xlsx appendix and charts."""
    with run() as ctx:
        res = write_bulletin(ctx, period, out)
        table(f"bulletin {res.period}", ["format", "file"], sorted((k, str(v)) for k, v in res.files.items()))
        if "pdf" not in res.files:
            console.print(
                "[yellow]no PDF:[/] LibreOffice (soffice) is missing or failed; see the README to install it"
            )


def register(app: typer.Typer) -> None:
    app.command("summary")(summary)
