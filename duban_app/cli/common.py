"""Shared CLI plumbing: the context, output helpers, and turning errors into clear exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from duban.errors import DubanError
from duban_app.context import AppContext

__all__ = ["console", "database_error", "err", "fail", "print_json", "run", "table"]

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True)
    return typer.Exit(code)


@contextmanager
def run() -> Iterator[AppContext]:
    """An AppContext for one command; known errors become a message and a non-zero exit."""
    ctx = AppContext()
    try:
        yield ctx
    except (DubanError, LookupError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    except SQLAlchemyError as exc:  # e.g. the database connection was lost mid-run
        raise fail(database_error(exc)) from None
    finally:
        ctx.close()


def database_error(exc: SQLAlchemyError) -> str:
    """One line naming the database error, and what a rerun does about it."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return (
        f"database error ({type(orig).__name__}): {first}. Work committed before it is kept and the "
        "interrupted step was rolled back; run the command again to resume."
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    styles: Callable[[Sequence[Any]], str] | None = None,
) -> None:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r), style=styles(r) if styles else None)
    console.print(t)
