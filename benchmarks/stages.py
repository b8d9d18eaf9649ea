"""duban's own stages, timed: in-process, and the same cycle as Prefect flows against a server.

Both runs start from a copy of the same seeded store (the synthetic catalogue imported, not
timed) and the same inbox, and do what ``flows.cycle.reporting_cycle`` does on the simulated
day ``RUN_DATE`` (the 督办 stage of 2026Q3): collect the inbox in batches of
``orchestration.batch_size`` files (one ``AppContext`` per batch, as ``collect_batch`` does)
and the API, reconcile, the status table, send the due notice stage through SMTP, write the
bulletin. The in-process run calls the ``duban_app`` jobs directly; the Prefect run calls
``reporting_cycle`` in a fresh interpreter with ``PREFECT_API_URL`` set. The difference is
what Prefect costs. Each run happens in its own process so that its peak RSS is its own.

    python -m benchmarks.stages flow   # the Prefect run (environment from the caller)
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.floor import rss_mb
from benchmarks.generate import PERIOD_KEY, RUN_DATE, Dataset

__all__ = [
    "FLOW_JOBS",
    "PrefectServer",
    "flow_cycle",
    "inprocess_cycle",
    "prepare_run",
    "run_flow_subprocess",
    "seed_store",
    "store_counts",
    "write_config",
]

STAGE = "overdue"


def prepare_run(ds: Dataset, run_dir: Path, name: str, extra_env: dict[str, str]) -> dict[str, str]:
    """A DUBAN_HOME with the inbox pointing at the dataset's files; returns the environment to run in."""
    home = run_dir / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "inbox").symlink_to(ds.files_dir.resolve(), target_is_directory=True)
    seed = run_dir / "seed.db"
    if seed.exists():
        shutil.copyfile(seed, home / "duban.db")
    return {
        **extra_env,
        "DUBAN_HOME": str(home.resolve()),
        "DUBAN_CONFIG_DIR": str((run_dir / "config").resolve()),
    }


def write_config(ds: Dataset, run_dir: Path, repo_config: Path) -> None:
    """settings.yaml and sources.yaml from the repository, units.yaml from the dataset."""
    cfg = run_dir / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    for name in ("settings.yaml", "sources.yaml"):
        shutil.copyfile(repo_config / name, cfg / name)
    shutil.copyfile(ds.units_path, cfg / "units.yaml")


def _use_env(env: dict[str, str]) -> None:
    os.environ.update(env)
    from duban.settings import get_settings

    get_settings.cache_clear()


def seed_store(ds: Dataset, run_dir: Path) -> None:
    """Import the synthetic catalogue into ``run_dir/seed.db`` (migrations included; not timed)."""
    from duban.store import open_store
    from duban.store.catalogue import import_catalogue

    seed = run_dir / "seed.db"
    seed.unlink(missing_ok=True)
    store = open_store(f"sqlite:///{seed.resolve()}")
    import_catalogue(store, ds.catalogue, source_sha256="synthetic")
    store.dispose()


def _with_ctx(fn: Callable[[Any], Any]) -> Any:
    from duban_app.context import AppContext

    ctx = AppContext()
    try:
        return fn(ctx)
    finally:
        ctx.close()


class _Steps:
    """Times each job (summed per key); a failing job is recorded and the cycle goes on."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    def __call__(self, key: str, fn: Callable[[Any], Any]) -> Any:
        started = time.perf_counter()
        try:
            return _with_ctx(fn)
        except Exception as exc:
            self.errors.setdefault(key, f"{type(exc).__name__}: {exc}"[:500])
            return None
        finally:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started


def inprocess_cycle(env: dict[str, str], *, pdf: bool = True) -> dict[str, Any]:
    """The cycle's jobs called directly, in the order and with the contexts ``reporting_cycle`` uses.

    ``pdf=False`` leaves out the LibreOffice conversion (the flow always converts; smoke tests).
    """
    _use_env(env)
    from duban.settings import get_settings
    from duban.store.db import SHANGHAI
    from duban_app.collect import collect_api, collect_files, find_files
    from duban_app.cycle import reconcile_period, status
    from duban_app.notices import run_stage
    from duban_app.summary import write_bulletin

    settings = get_settings()
    when = datetime.combine(RUN_DATE, dtime(9, 0), SHANGHAI)
    step = _Steps()
    started = time.perf_counter()
    files = find_files(settings.path("inbox"))
    size = settings.orchestration.batch_size
    batches = [files[i : i + size] for i in range(0, len(files), size)]
    reports = [step("collect_files_s", lambda c, b=b: collect_files(c, b)) for b in batches]
    api = step("collect_api_s", lambda c: collect_api(c, record_time=True))
    units = step(
        "reconcile_s", lambda c: (reconcile_period(c, PERIOD_KEY, today=RUN_DATE), status(c, PERIOD_KEY))[1]
    )
    step("status_s", lambda c: status(c, PERIOD_KEY))
    sent = step("notices_s", lambda c: run_stage(c, PERIOD_KEY, STAGE, when=lambda: when))
    summary = step("bulletin_s", lambda c: write_bulletin(c, PERIOD_KEY, issued_on=RUN_DATE, pdf=pdf))
    return {
        **step.seconds,
        "cycle_s": time.perf_counter() - started,
        "errors": step.errors,
        "files": len(files),
        "batches": len(batches),
        "tables": sum(r.tables for r in reports if r is not None),
        "api_records": api.api_records_new if api else None,
        "units_expected": len(units) if units else None,
        "notices": {"sent": sent.report.sent, "skipped": sent.report.skipped, "failed": sent.report.failed}
        if sent
        else None,
        "bulletin_files": sorted(summary.files) if summary else [],
        "rss_mb": rss_mb(),
    }


#: The duban_app jobs the flows call, by the module that calls them: clocked inside the Prefect run.
FLOW_JOBS = {
    "flows.tasks": (
        "collect_files",
        "collect_api",
        "reconcile_period",
        "write_templates",
        "run_stage",
        "write_bulletin",
    ),
}


def _clocked(fn: Callable[..., Any], spans: list[tuple[float, float]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def clocked(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spans.append((started, time.perf_counter()))

    return clocked


def _covered(spans: list[tuple[float, float]]) -> float:
    """Length of the union of the spans (collection batches run in threads, side by side)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def flow_cycle() -> dict[str, Any]:
    """The Prefect run (in this process, against ``PREFECT_API_URL``): import, then time the flow call.

    The duban_app jobs the tasks call are clocked where the flows look them up (module globals),
    so the run also tells how much of its wall time was spent outside duban's own work.
    """
    import importlib

    from duban.settings import get_settings

    get_settings.cache_clear()
    t0 = time.perf_counter()
    from flows.cycle import reporting_cycle

    imported = time.perf_counter() - t0
    spans: list[tuple[float, float]] = []
    for module, names in FLOW_JOBS.items():
        mod = importlib.import_module(module)
        for name in names:
            setattr(mod, name, _clocked(getattr(mod, name), spans))
    started = time.perf_counter()
    result = reporting_cycle(run_date=RUN_DATE, record_time=True, clock_time="09:00")
    seconds = time.perf_counter() - started
    done = result["periods"].get(PERIOD_KEY, {})
    return {
        "cycle_s": seconds,
        "jobs_s": _covered(spans),
        "jobs": len(spans),
        "import_s": imported,
        "notices": done.get(f"notices_{STAGE}"),
        "bulletin_files": sorted(done.get("bulletin", {})),
        "rss_mb": rss_mb(),
    }


def store_counts(db: Path) -> dict[str, Any]:
    """What a run left in its store, to check both runs did the same work."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        q = {
            "submissions": "select state, count(*) from submission group by state",
            "findings": "select origin || ':' || kind, count(*) from finding group by 1",
            "notices": "select stage || ':' || state, count(*) from notice group by 1",
        }
        out: dict[str, Any] = {k: dict(con.execute(sql).fetchall()) for k, sql in q.items()}
        out["items"] = con.execute("select count(*) from submission_item").fetchone()[0]
        out["documents"] = con.execute("select count(*) from document").fetchone()[0]
        return out
    finally:
        con.close()


class PrefectServer:
    """``prefect server start`` on a free port with its own PREFECT_HOME; stopped by its process group."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.url = f"http://127.0.0.1:{port}/api"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }

    def start(self, timeout: float = 240) -> float:
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        started = time.perf_counter()
        log = (self.home / "server.log").open("wb")
        cmd = [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"prefect server exited with {self.proc.returncode}; see {self.home}/server.log"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"prefect server not healthy after {timeout:.0f} s; see {self.home}/server.log")

    def peak_rss_mb(self) -> float:
        """Sum of the server processes' peak RSS (VmHWM), read before stopping it."""
        import psutil

        if self.proc is None:
            return 0.0
        total = 0.0
        try:
            procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for p in procs:
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                continue
        return round(total, 1)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def run_flow_subprocess(
    env: dict[str, str], api_url: str, prefect_home: Path, *, profile: Path | None = None
) -> dict[str, Any]:
    """``python -m benchmarks.stages flow`` with the run's environment; its JSON plus the process wall time.

    With ``profile`` the process runs under pyinstrument and its call tree is written there.
    """
    full = {
        **os.environ,
        **env,
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    prof = ["-m", "pyinstrument", "-r", "text", "-o", str(profile)] if profile else []
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *prof, "-m", "benchmarks.stages", "flow"],
        env=full,
        capture_output=True,
        timeout=3600,
        check=False,
    )
    wall = time.perf_counter() - started
    out = done.stdout.decode("utf-8", "replace").strip().splitlines()
    if done.returncode != 0 or not out:
        tail = done.stderr.decode("utf-8", "replace")[-3000:]
        raise RuntimeError(f"the Prefect cycle failed (exit {done.returncode}):\n{tail}")
    return {**json.loads(out[-1]), "process_s": wall}


if __name__ == "__main__":
    if sys.argv[1:] == ["flow"]:
        print(json.dumps(flow_cycle(), ensure_ascii=False, default=str))
    else:
        sys.exit("usage: python -m benchmarks.stages flow")
