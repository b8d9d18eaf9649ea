"""Plain-value rows into one table through the driver's own ``executemany``.

For the largest inserts of a quarter (200,000 submission items at province scale, every
received file with its raw rows) SQLAlchemy's per-row parameter handling costs more than the
database does; sqlite3 and psycopg both take a list of tuples in C. Values are converted by
the columns' own SQLAlchemy bind processors (dates for SQLite, JSON, booleans), so what is
stored is exactly what the ORM would have stored.

Example:
    >>> insert_rows(session, SubmissionItemRow.__table__, ("submission_id", "item_id"), [(1, "T01")])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import JSON, Boolean, Float, Integer, Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

__all__ = ["JsonText", "execute_many", "insert_returning_ids", "insert_rows", "marker"]


class JsonText(str):
    """A value for a JSON column, serialised already (in a reader process, off the writer's path)."""

    __slots__ = ()


#: Types both drivers take as Python gives them (bool, int, float, None): no conversion needed.
_NATIVE = (Boolean, Float, Integer)
_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
_UNSEEN = object()

_Prepared = tuple[str, list[tuple[int, Callable[[Any], Any]]]] | None
#: Parameters per multi-row INSERT on SQLite (999, the oldest SQLite's limit): one statement
#: for 50 item rows costs a quarter less than 50 steps of a one-row statement.
_SQLITE_PARAMS = 999

#: dialect → (table, columns, exprs) → ``_prepare``'s answer: a batch is stored every ~30 files,
#: and building the columns' bind processors each time cost more than small batches' inserts.
_PREPARED: WeakKeyDictionary[Dialect, dict[Any, _Prepared]] = WeakKeyDictionary()


def marker(conn: Connection) -> str | None:
    """The driver's positional parameter marker (``?`` or ``%s``), None for other paramstyles."""
    return _MARKERS.get(conn.dialect.paramstyle)


def execute_many(session: Session, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run ``sql`` (written with ``?`` for parameters, no literal ``?`` or ``%``) once per row,
    through the driver's ``executemany`` in the session's transaction; values go as given."""
    if not rows:
        return
    conn = session.connection()
    mark = marker(conn)
    if mark is None:
        raise NotImplementedError(f"plain statements through the {conn.dialect.driver} driver")
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql if mark == "?" else sql.replace("?", mark), rows)
    finally:
        cursor.close()


def _prepare(
    conn: Connection, table: Table, columns: Sequence[str], exprs: dict[str, str] | None = None
) -> _Prepared:
    dialect = conn.dialect
    key = (table, tuple(columns), tuple(sorted(exprs.items())) if exprs else None)
    known = _PREPARED.setdefault(dialect, {})
    if key not in known:
        known[key] = _build(dialect, table, columns, exprs)
    return known[key]


def _build(dialect: Dialect, table: Table, columns: Sequence[str], exprs: dict[str, str] | None) -> _Prepared:
    marker = _MARKERS.get(dialect.paramstyle)
    if marker is None:
        return None
    quote = dialect.identifier_preparer.quote
    markers, processors = [], []
    for i, name in enumerate(columns):
        col = table.c[name]
        if exprs and name in exprs:  # a SQL expression around the value, e.g. a lookup
            markers.append(exprs[name].format(marker))
            continue
        proc = col.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None and not isinstance(col.type, _NATIVE):
            processors.append((i, proc))
        pg_json = dialect.name == "postgresql" and isinstance(col.type, JSON)
        markers.append(f"CAST({marker} AS JSON)" if pg_json else marker)
    names = ", ".join(quote(c) for c in columns)
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join(markers)})"
    return sql, processors


def _convert(rows: Sequence[Sequence[Any]], processors: list[tuple[int, Callable[[Any], Any]]]) -> list[Any]:
    """Rows with the processors' columns converted; a value that is the very object of the row
    before (the batch's ``stored_at``) is converted once."""
    if not processors:
        return list(rows)
    out = []
    last: dict[int, tuple[Any, Any]] = {i: (_UNSEEN, None) for i, _ in processors}
    for r in rows:
        r = list(r)
        for i, proc in processors:
            v = r[i]
            if v.__class__ is JsonText:
                continue
            seen, done = last[i]
            if v is not seen:
                done = proc(v)
                last[i] = (v, done)
            r[i] = done
        out.append(r)
    return out


def insert_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    exprs: dict[str, str] | None = None,
) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) in the session's transaction.

    ``exprs`` puts a column's value inside a SQL expression, ``{}`` standing for the value:
    ``{"submission_id": "(SELECT id FROM submission WHERE dedupe_key = {})"}`` lets a reader
    process build finished rows before the submission has an id.
    """
    if not rows:
        return
    conn = session.connection()
    prepared = _prepare(conn, table, columns, exprs)
    if prepared is None:
        driver = f"{conn.dialect.driver} (paramstyle {conn.dialect.paramstyle})"
        raise NotImplementedError(f"bulk insert through the {driver} driver")
    sql, processors = prepared
    values = _convert(rows, processors)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "sqlite" and len(values) > 1:
            _insert_sqlite(cursor, sql, values)
        else:
            cursor.executemany(sql, values)
    finally:
        cursor.close()


def _insert_sqlite(cursor: Any, sql: str, values: Sequence[Sequence[Any]]) -> None:
    """Rows ``per`` at a time in one multi-row ``VALUES`` statement, the rest one by one."""
    head, _, row = sql.partition(" VALUES ")
    per = max(1, _SQLITE_PARAMS // len(values[0]))
    whole = len(values) - len(values) % per if per > 1 else 0
    if whole:
        many = f"{head} VALUES {', '.join([row] * per)}"
        cursor.executemany(
            many, [tuple(chain.from_iterable(values[i : i + per])) for i in range(0, whole, per)]
        )
    if whole < len(values):
        cursor.executemany(sql, values[whole:])


def insert_returning_ids(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[int]:
    """INSERT ``rows`` and return their new ids, in order (one statement on SQLite, one per row
    with RETURNING elsewhere)."""
    if not rows:
        return []
    conn = session.connection()
    prepared = _prepare(conn, table, columns)
    if prepared is None:
        stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.scalars(stmt, [dict(zip(columns, r, strict=True)) for r in rows]))
    sql, processors = prepared
    sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        sql += " RETURNING id"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    ids: list[int] = []
    try:
        if sqlite:
            # SQLite gives a new row the table's largest rowid + 1, and from the first row on
            # this transaction holds the write lock: one executemany's rows get consecutive
            # ids. Checked, for the one exception (rowids past 2⁶³ − 1 are picked at random).
            cursor.executemany(sql, _convert(rows, processors))
            last = cursor.execute("SELECT last_insert_rowid()").fetchone()[0]
            first = last - len(rows) + 1
            q = f"SELECT count(*), max(rowid) FROM {table.name} WHERE rowid >= ?"
            if cursor.execute(q, (first,)).fetchone() != (len(rows), last):
                raise RuntimeError(f"{table.name}: new rows were not given consecutive ids")
            return list(range(first, last + 1))
        for values in _convert(rows, processors):
            cursor.execute(sql, values)
            ids.append(cursor.lastrowid if sqlite else cursor.fetchone()[0])
    finally:
        cursor.close()
    return ids
