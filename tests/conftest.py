"""Shared fixtures: isolated settings and home, the store on SQLite and PostgreSQL, ../shared.

PostgreSQL tests use ``DUBAN_TEST_PG_URL`` (default: the local server on 127.0.0.1:5432 as
postgres). Without a reachable server they skip with the reason, except under ``CI=true``,
where an unreachable server fails the run. The same rule holds for ``../shared``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from duban.settings import REPO_ROOT, Settings, get_settings
from duban.store import Store, open_store
from duban.store.models import Base

IN_CI = os.environ.get("CI", "").lower() == "true"
SHARED = REPO_ROOT.parent / "shared"
PG_ADMIN_URL = os.environ.get("DUBAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def need(condition: bool, reason: str) -> None:
    """Skip when a resource is absent, but fail under CI=true, where it must be present."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    need(SHARED.is_dir(), f"../shared is absent ({SHARED}); corpus tests need it")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own DUBAN_HOME and no stray DUBAN_* from the caller's shell."""
    for key in list(os.environ):
        if key.startswith("DUBAN_") and key not in ("DUBAN_TEST_PG_URL",):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DUBAN_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return get_settings()


def _pg_reachable() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any driver error means "not reachable"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}"[:300]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    problem = _pg_reachable()
    need(problem is None, problem or "")
    name = f"duban_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(store: Store) -> None:
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in reversed(Base.metadata.sorted_tables):
                conn.execute(t.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store on a fresh SQLite file and on PostgreSQL (tables emptied per test)."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        s = open_store(request.getfixturevalue("pg_url"))
        _truncate(s)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.dispose()
