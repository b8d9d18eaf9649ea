"""Engine, sessions and migrations.

``open_store(url)`` is the one way in: it creates the SQLite directory when needed, runs the
Alembic migrations up to head (once per URL per process), and returns a ``Store`` whose
``session()`` context commits on success and rolls back on error, so a failed step leaves
nothing half-written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Store", "lock_writes", "now", "open_store", "to_shanghai", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SHANGHAI = ZoneInfo("Asia/Shanghai")
_migrated: set[str] = set()
_lock = threading.Lock()
#: PostgreSQL advisory lock taken by writers of received submissions ("duba")
WRITE_LOCK_KEY = 0x64756261


def now() -> datetime:
    """Timezone-aware now in Asia/Shanghai (business time)."""
    return datetime.now(SHANGHAI)


def to_shanghai(dt: datetime) -> datetime:
    """Stored timestamps come back naive from SQLite (written in Shanghai time) and in UTC from PostgreSQL."""
    return dt.replace(tzinfo=SHANGHAI) if dt.tzinfo is None else dt.astimezone(SHANGHAI)


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if u.get_backend_name() == "postgresql" and u.get_driver_name() in ("", "psycopg2"):
        url = u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True)


def upgrade(url: str) -> None:
    """Apply migrations up to head (``duban db upgrade``)."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            cfg = _alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


class Store:
    """An engine plus a session factory for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._turn = _WriteTurn(url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on any error."""
        with self._sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A ``session()`` holding the store's write lock from its first statement (``lock_writes``)."""
        with self._turn, self.session() as s:
            lock_writes(s)
            yield s

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()
        self._turn.close()


class _WriteTurn:
    """Writers of one SQLite file queue here, each woken the moment the previous one is done.

    SQLite itself makes a writer that finds the database locked sleep and retry, 1 ms, then 2,
    5, 10 … 100 ms at a time: two reader processes storing chunks in turn would spend much of
    a batch asleep after the lock was free. An ``flock`` on a file beside the database (and a
    thread lock, as ``flock`` is per open file) hands the turn over at once. Processes that do
    not queue here still meet SQLite's own lock. Other databases: no-op.
    """

    def __init__(self, url: str) -> None:
        u = make_url(url)
        db = u.database if u.get_backend_name() == "sqlite" else None
        self._path = f"{db}.lock" if db and db != ":memory:" and fcntl is not None else None
        self._fd: int | None = None
        self._thread = threading.Lock()

    def __enter__(self) -> None:
        if self._path is None:
            return
        self._thread.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread.release()
            raise

    def __exit__(self, *exc: object) -> None:
        if self._path is None:
            return
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def close(self) -> None:
        with self._thread:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def lock_writes(session: Session) -> None:
    """Make the session's transaction the only one writing received submissions until it ends.

    Storing a submission reads before it writes (is this content stored? which submission of
    the unit and period is newest?), and reader processes store chunks side by side. SQLite's
    deferred transaction would read outside the lock and could then fail to upgrade, so it
    starts ``BEGIN IMMEDIATE`` (the busy timeout waits for the other writer); PostgreSQL takes
    a transaction-scoped advisory lock. Other writers of the store are not affected.
    """
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at ``url``, migrating it to the newest schema the first time."""
    if migrate:
        with _lock:
            if url not in _migrated:
                upgrade(url)
                _migrated.add(url)
    return Store(url)
