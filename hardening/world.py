"""The world the campaigns run in: the seed plan, a generated quarter, and stores to copy.

Why: a crash or fault trial must start from a known state and finish in seconds, so the
expensive parts — importing the seed plan, generating the demo's quarter of returned files,
collecting half of them — are done once, into *base* stores, and every trial gets a copy
(a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL). Base states:

- ``fresh``: migrated, seed plan imported (what collect starts from);
- ``half``: the first half of the quarter's files collected (many units still owe items);
- ``stale``: ``half`` reconciled before the deadline, then the other half collected without
  reconciling (so a new reconcile replaces a very different set of findings).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from duban.settings import REPO_ROOT, Settings

__all__ = [
    "PERIOD",
    "PG_ADMIN_URL",
    "Trial",
    "World",
    "build_world",
    "pg_admin",
    "pg_available",
    "pg_create",
    "pg_drop",
    "pg_url",
    "settings_for",
    "shared_world",
    "world_cache_dir",
]

PERIOD = "2026Q4"
PG_ADMIN_URL = os.environ.get("DUBAN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
STATES = ("fresh", "half", "stale")


def pg_admin() -> Engine:
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        eng = pg_admin()
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any driver error means "not reachable"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {exc}"[:300]


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def pg_create(name: str, template: str | None = None) -> str:
    eng = pg_admin()
    try:
        with eng.connect() as c:
            if template:
                c.execute(
                    text("select pg_terminate_backend(pid) from pg_stat_activity where datname = :d"),
                    {"d": template},
                )
            c.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    finally:
        eng.dispose()
    return pg_url(name)


def pg_drop(name: str) -> None:
    eng = pg_admin()
    try:
        with eng.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        eng.dispose()


def settings_for(home: Path, url: str, config_dir: Path, **smtp: Any) -> Settings:
    """Settings for one home and store, whatever the caller's environment says."""
    values: dict[str, Any] = {"home": home, "database_url": url, "config_dir": config_dir}
    if smtp:
        base = Settings(config_dir=config_dir).smtp.model_dump()
        values["smtp"] = {**base, **smtp}
    return Settings(**values)


@dataclass
class Trial:
    """One copy of a base state: its store URL and its own DUBAN_HOME."""

    url: str
    home: Path
    backend: str
    pg_name: str | None = None

    def env(self, world: World) -> dict[str, str]:
        """What a child process needs to open this trial's store with the world's config."""
        return {
            "DUBAN_HOME": str(self.home),
            "DUBAN_DATABASE_URL": self.url,
            "DUBAN_CONFIG_DIR": str(world.config_dir),
        }

    def settings(self, world: World, **smtp: Any) -> Settings:
        return settings_for(self.home, self.url, world.config_dir, **smtp)


@dataclass
class World:
    root: Path
    config_dir: Path
    returns: Path
    files: list[Path]
    units: list[str]
    api_records: list[dict[str, Any]]
    sqlite_bases: dict[str, Path] = field(default_factory=dict)
    pg_bases: dict[str, str] = field(default_factory=dict)
    scratch: Path | None = None  # where this process puts its trials (default: root)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # reference runs, by key
    _n: int = 0

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per world and process (reference runs are the same on every backend)."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    # -- trials ---------------------------------------------------------------------------
    def trial(self, state: str, backend: str = "sqlite") -> Trial:
        """A fresh copy of base ``state`` on ``backend`` (``sqlite`` or ``postgresql``)."""
        self._n += 1
        home = (self.scratch or self.root) / "trials" / f"t{os.getpid()}-{self._n:04d}"
        home.mkdir(parents=True)
        if backend == "sqlite":
            db = home / "duban.db"
            shutil.copyfile(self.sqlite_bases[state], db)
            return Trial(f"sqlite:///{db}", home, backend)
        base = self.pg_base(state)
        name = f"hx_t_{uuid.uuid4().hex[:12]}"
        return Trial(pg_create(name, template=base), home, backend, pg_name=name)

    def discard(self, trial: Trial) -> None:
        if trial.pg_name:
            pg_drop(trial.pg_name)
        shutil.rmtree(trial.home, ignore_errors=True)

    @contextmanager
    def trial_of(self, state: str, backend: str = "sqlite") -> Iterator[Trial]:
        t = self.trial(state, backend)
        try:
            yield t
        finally:
            self.discard(t)

    def pg_base(self, state: str) -> str:
        """The PostgreSQL template database of ``state``, built on first use."""
        if state not in self.pg_bases:
            name = f"hx_base_{state}_{uuid.uuid4().hex[:8]}"
            url = pg_create(name)
            _build_state(self, state, url, (self.scratch or self.root) / f"pg-home-{os.getpid()}" / state)
            self.pg_bases[state] = name
        return self.pg_bases[state]

    def close(self) -> None:
        for name in self.pg_bases.values():
            pg_drop(name)
        self.pg_bases.clear()


def _config_without_sources(dest: Path) -> Path:
    shutil.copytree(REPO_ROOT / "config", dest, ignore=shutil.ignore_patterns("sources.yaml"))
    return dest


def _ctx(world: World, url: str, home: Path):  # -> AppContext
    from duban_app.context import AppContext

    return AppContext(settings_for(home, url, world.config_dir))


def _build_state(world: World, state: str, url: str, home: Path) -> None:
    """Bring the empty store at ``url`` to base ``state``."""
    from duban.periods import parse_period
    from duban_app.catalogue import import_plan
    from duban_app.collect import collect_files
    from duban_app.cycle import reconcile_period

    home.mkdir(parents=True, exist_ok=True)
    ctx = _ctx(world, url, home)
    try:
        import_plan(ctx, ctx.settings.plan_path)
        half = world.files[: len(world.files) // 2]
        if state in ("half", "stale"):
            collect_files(ctx, half)
        if state == "stale":
            deadline = parse_period(PERIOD, ctx.settings).deadline
            reconcile_period(ctx, PERIOD, today=deadline - timedelta(days=3))
            collect_files(ctx, world.files[len(half) :])
    finally:
        ctx.close()


def build_world(root: Path, *, seed: int = 7) -> World:
    """Seed plan, the demo's generated quarter (no LibreOffice round trip) and SQLite bases."""
    from duban.periods import parse_period, work_calendar
    from duban.reconcile import expected_pairs
    from duban_app.simulate import generate_quarter

    root.mkdir(parents=True, exist_ok=True)
    config_dir = _config_without_sources(root / "config")
    world = World(root, config_dir, root / "returns", [], [], [])
    fresh = root / "bases" / "fresh.db"
    ctx = _ctx(world, f"sqlite:///{fresh}", root / "base-home")
    try:
        from duban_app.catalogue import import_plan

        import_plan(ctx, ctx.settings.plan_path)
        catalogue, version = ctx.catalogue()
        period = parse_period(PERIOD, ctx.settings)
        quarter = generate_quarter(
            catalogue,
            version,
            ctx.directory,
            period,
            work_calendar(ctx.settings),
            world.returns,
            seed=seed,
            convert=False,
        )
        world.units = sorted({u for _i, u, _r in expected_pairs(catalogue)})
    finally:
        ctx.close()
    for a in quarter.arrivals:  # collect takes the arrival time from the file's mtime
        os.utime(a.path, (a.at.timestamp(), a.at.timestamp()))
    world.files = [a.path for a in quarter.arrivals]
    world.api_records = quarter.api_records
    world.sqlite_bases["fresh"] = fresh
    for state in ("half", "stale"):
        db = root / "bases" / f"{state}.db"
        shutil.copyfile(fresh, db)
        _build_state(world, state, f"sqlite:///{db}", root / "base-home")  # the plan import is a no-op
        world.sqlite_bases[state] = db
    return world


def _save(world: World, path: Path) -> None:
    data = {
        "root": str(world.root),
        "config_dir": str(world.config_dir),
        "returns": str(world.returns),
        "files": [str(p) for p in world.files],
        "units": world.units,
        "api_records": world.api_records,
        "sqlite_bases": {k: str(v) for k, v in world.sqlite_bases.items()},
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _load(path: Path, scratch: Path) -> World:
    d = json.loads(path.read_text(encoding="utf-8"))
    return World(
        Path(d["root"]),
        Path(d["config_dir"]),
        Path(d["returns"]),
        [Path(p) for p in d["files"]],
        d["units"],
        d["api_records"],
        {k: Path(v) for k, v in d["sqlite_bases"].items()},
        scratch=scratch,
    )


def shared_world(cache_dir: Path, scratch: Path) -> World:
    """The world built once in ``cache_dir`` and shared by every process that asks (a file lock
    makes the others wait for the first); each process keeps its trials under ``scratch``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            index = cache_dir / "world.json"
            if not index.exists():
                _save(build_world(cache_dir / "world"), index)
            world = _load(index, scratch)
        finally:
            # Released explicitly, not by closing: building the world forks reader processes,
            # which inherit this open file and outlive the build (the pool is kept), and an
            # flock lasts until every descriptor of it is closed — the other processes asking
            # would wait for ever.
            fcntl.flock(lock, fcntl.LOCK_UN)
    return world


def world_cache_dir(basetemp: Path) -> Path:
    """Where a pytest session keeps the shared world: beside the xdist workers' temp dirs (one per
    session, ``PYTEST_XDIST_TESTRUNUID``), or inside the single process's own temp dir."""
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return basetemp.parent / f"hardening-world-{uid}" if uid else basetemp / "hardening-world"
