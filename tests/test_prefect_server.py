"""Integration: a real `prefect server` (on PostgreSQL when reachable — required in CI), a process
worker, `prefect --no-prompt deploy` from prefect.yaml, and the collect deployment run through the
API to completion against a duban store with a file in its inbox."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from duban.settings import REPO_ROOT
from duban.store import open_store
from duban.store.models import SubmissionRow
from tests.conftest import IN_CI, PG_ADMIN_URL, _pg_reachable, need

pytestmark = pytest.mark.slow
PREFECT = [sys.executable, "-m", "prefect"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_db(tmp_path: Path) -> tuple[str, str | None]:
    """PostgreSQL for the server when reachable (asyncpg URL, database name), else SQLite."""
    problem = _pg_reachable()
    need(problem is None or not IN_CI, problem or "")
    if problem is not None:
        return f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}", None
    name = f"prefect_t_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql+asyncpg")
    return f"{base}/{name}", name


def _drop(name: str | None) -> None:
    if name:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"prefect server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"prefect server not healthy after {timeout} s")


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_collect_deployment_runs_through_a_real_server_and_process_worker(tmp_path: Path) -> None:
    db_url, db_name = _server_db(tmp_path)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = tmp_path / "duban-home"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": db_url,
        "DUBAN_HOME": str(home),
        "DUBAN_ROOT": str(REPO_ROOT),
        "DUBAN_CONFIG_DIR": str(tmp_path / "config"),
    }
    shutil.copytree(REPO_ROOT / "config", tmp_path / "config", ignore=shutil.ignore_patterns("sources.yaml"))
    # A store with the plan and one unit's returned template in the inbox.
    duban = [sys.executable, "-m", "duban_app.cli.main"]
    _run([*duban, "catalogue", "import", str(REPO_ROOT / "config/plans/lishui-2022-29.txt")], env)
    _run([*duban, "templates", "--period", "2026Q4", "--out", str(home / "inbox")], env)
    expected = len(list((home / "inbox").glob("*.xlsx")))
    assert expected > 0

    server = subprocess.Popen(
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = None
    try:
        _wait_healthy(api, server, timeout=180)
        _run([*PREFECT, "work-pool", "create", "duban-process", "--type", "process"], env)
        _run([*PREFECT, "--no-prompt", "deploy", "--all"], env)
        worker = subprocess.Popen(
            [*PREFECT, "worker", "start", "--pool", "duban-process"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        done = _run(
            [
                *PREFECT,
                "deployment",
                "run",
                "collect/collect",
                "--param",
                "api=false",
                "--watch",
                "--watch-timeout",
                "240",
            ],
            env,
            timeout=300,
        )
        assert "Completed" in done.stdout + done.stderr
    finally:
        for proc in (worker, server):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        _drop(db_name)
    store = open_store(f"sqlite:///{home / 'duban.db'}")
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(SubmissionRow)) == expected
    store.dispose()
