"""Plain rows of a column-only SELECT, straight from the driver's cursor.

The largest reads of a quarter (200,000 submission items at province scale, read by the
reconciliation, the status table and the notice plan; 200,000 assignments when a catalogue
is loaded) cost three times more in SQLAlchemy's per-row result handling than in the
database. Here the statement is compiled once per dialect and shape and run on the
session's (or the given) connection, inside its transaction; values come back as the driver
gives them, so callers convert what needs it: booleans are 0/1 from SQLite (``bool``),
timestamps text from SQLite and ``datetime`` from PostgreSQL, JSON text from SQLite and
parsed from PostgreSQL.

Example:
    >>> plain_rows(session, ("items", 0), lambda: select(T.a, T.b).where(T.p == bindparam("p")), {"p": 1})
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.orm import Session

from duban.gcpause import no_gc
from duban.store.bulk import marker

__all__ = ["no_gc", "plain_query", "plain_rows"]

#: (dialect, driver, caller's key) → (SQL text, positional parameter names or None, default values)
_COMPILED: dict[tuple[str, str, Hashable], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def plain_rows(
    source: Session | Connection, key: Hashable, build: Callable[[], Select[Any]], params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Rows (tuples) of ``build()`` with ``params`` bound by name; ``key`` names the statement's shape.

    ``source`` is a session or a connection (cheaper for a lone read). ``build`` must give the
    same statement for the same ``key``: it is compiled only the first time.
    """
    conn = source.connection() if isinstance(source, Session) else source
    dialect = conn.dialect
    cache_key = (dialect.name, dialect.driver, key)
    hit = _COMPILED.get(cache_key)
    if hit is None:
        compiled = build().compile(dialect=dialect)
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        hit = _COMPILED[cache_key] = (str(compiled), names, dict(compiled.params))
    sql, names, defaults = hit
    values = {**defaults, **params}
    args: Any = tuple(values[n] for n in names) if names is not None else values
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, args)
        return cursor.fetchall()
    finally:
        cursor.close()


def plain_query(source: Session | Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows (tuples) of ``sql``, written with ``?`` for its positional ``params`` (and no literal
    ``?`` or ``%``), for a statement whose shape varies (IN lists) and would not be worth compiling."""
    conn = source.connection() if isinstance(source, Session) else source
    mark = marker(conn)
    if mark is None:
        raise NotImplementedError(f"plain statements through the {conn.dialect.driver} driver")
    if mark != "?":
        sql = sql.replace("?", mark)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return cursor.fetchall()
    finally:
        cursor.close()
