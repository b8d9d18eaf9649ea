"""Engine, sessions and migrations.

``open_store(url)`` is the one way in: it creates the SQLite directory when needed, runs the
Alembic migrations up to head (once per URL per process), and returns a ``Store`` whose
``session()`` context commits on success and rolls back on error, so a failed step leaves
nothing half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Store", "now", "open_store", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SHANGHAI = ZoneInfo("Asia/Shanghai")
_migrated: set[str] = set()
_lock = threading.Lock()


def now() -> datetime:
    """Timezone-aware now in Asia/Shanghai (business time)."""
    return datetime.now(SHANGHAI)


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

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at ``url``, migrating it to the newest schema the first time."""
    if migrate:
        with _lock:
            if url not in _migrated:
                upgrade(url)
                _migrated.add(url)
    return Store(url)
