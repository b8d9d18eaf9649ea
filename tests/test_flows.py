"""Flows under a temporary Prefect server: the daily cycle is idempotent, collect runs on Dask,
and every deployment in prefect.yaml resolves to a flow.

All flow tests live in this module so that the ~10 s harness start is paid once (the suite
runs with --dist loadfile).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from prefect import Flow
from sqlalchemy import func, select

from duban.settings import REPO_ROOT, get_settings
from duban.store.models import DocumentRow, FindingRow, NoticeRow, SubmissionItemRow, SubmissionRow
from flows.deployments import load_flow, read_deployments

PERIOD = "2026Q4"


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def quarter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The seed plan imported and the demo's generated quarter, with a loopback SMTP server."""
    from connectors.mail.loopback import LoopbackSmtpServer
    from duban.periods import parse_period, work_calendar
    from duban_app.catalogue import import_plan
    from duban_app.context import AppContext
    from duban_app.simulate import generate_quarter

    with LoopbackSmtpServer(tmp_path / "mail") as smtp:
        monkeypatch.setenv("DUBAN_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("DUBAN_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DUBAN_CONFIG_DIR", str(_config_without_sources(tmp_path)))
        get_settings.cache_clear()
        ctx = AppContext()
        import_plan(ctx, ctx.settings.plan_path)
        cat, version = ctx.catalogue()
        period = parse_period(PERIOD, ctx.settings)
        q = generate_quarter(
            cat, version, ctx.directory, period, work_calendar(ctx.settings), tmp_path / "returns", seed=7
        )
        ctx.close()
        yield q, smtp


def _config_without_sources(tmp_path: Path) -> Path:
    """The repo's config minus sources.yaml: these tests exercise files, not the API."""
    cfg = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", cfg, ignore=shutil.ignore_patterns("sources.yaml"))
    return cfg


def _deliver(q, day: date) -> None:
    inbox = get_settings().path("inbox")
    inbox.mkdir(parents=True, exist_ok=True)
    for a in q.arrivals:
        if a.at.date() <= day and not (inbox / a.path.name).exists():
            shutil.copyfile(a.path, inbox / a.path.name)
            os.utime(inbox / a.path.name, (a.at.timestamp(), a.at.timestamp()))


def _snapshot() -> dict[str, object]:
    from duban_app.context import AppContext

    ctx = AppContext()
    try:
        with ctx.store.session() as s:
            return {
                "submissions": s.scalar(select(func.count()).select_from(SubmissionRow)),
                "items": s.scalar(select(func.count()).select_from(SubmissionItemRow)),
                "findings": sorted(
                    s.execute(select(FindingRow.kind, FindingRow.unit, FindingRow.item_id)).tuples().all(),
                    key=str,
                ),
                "notices": sorted(
                    s.execute(select(NoticeRow.unit, NoticeRow.stage, NoticeRow.state)).tuples().all()
                ),
                "documents": sorted(s.execute(select(DocumentRow.fmt, DocumentRow.sha256)).tuples().all()),
            }
    finally:
        ctx.close()


def test_every_deployment_in_prefect_yaml_resolves_to_a_flow() -> None:
    specs = read_deployments()
    assert {s.name for s in specs} >= {"reporting-cycle", "collect", "reconcile", "remind", "summarize"}
    for spec in specs:
        assert isinstance(load_flow(spec.entrypoint), Flow), spec.entrypoint
        for sched in spec.schedules:
            assert sched["timezone"] == "Asia/Shanghai"
    cycle = next(s for s in specs if s.name == "reporting-cycle")
    assert cycle.concurrency_limit == {"limit": 1, "collision_strategy": "CANCEL_NEW"}


def test_reporting_cycle_twice_on_the_same_day_changes_nothing(harness, quarter) -> None:
    from flows.cycle import reporting_cycle

    q, smtp = quarter
    due = date(2027, 1, 8)
    _deliver(q, due)
    first = reporting_cycle(run_date=due)
    after_first = _snapshot()
    sent_first = len(smtp.messages)
    assert first["periods"][PERIOD]["notices_due"]["sent"] > 0
    assert sent_first == first["periods"][PERIOD]["notices_due"]["sent"]
    second = reporting_cycle(run_date=due)
    assert _snapshot() == after_first
    assert len(smtp.messages) == sent_first
    assert second["periods"][PERIOD]["notices_due"]["sent"] == 0
    assert second["periods"][PERIOD]["notices_due"]["already_sent"] == sent_first


def test_cycle_opens_the_window_with_templates_and_writes_the_bulletin_after_the_deadline(
    harness, quarter
) -> None:
    from flows.cycle import reporting_cycle

    q, smtp = quarter
    opening = reporting_cycle(run_date=date(2026, 12, 21))
    done = opening["periods"][PERIOD]
    assert done["templates"] > 0
    assert done["notices_open"]["sent"] == len(smtp.messages) > 0
    assert all(m.get_content_maintype() == "multipart" for m in smtp.messages)
    _deliver(q, date(2027, 1, 13))
    closing = reporting_cycle(run_date=date(2027, 1, 13))
    files = closing["periods"][PERIOD]["bulletin"]
    assert Path(files["docx"]).exists() and Path(files["html"]).exists() and Path(files["xlsx"]).exists()


def test_collect_flow_runs_on_a_local_dask_cluster(harness, quarter, monkeypatch) -> None:
    from flows.collect import collect_with_configured_runner

    q, _smtp = quarter
    monkeypatch.setenv("DUBAN_ORCHESTRATION__TASK_RUNNER", "dask")
    monkeypatch.setenv("DUBAN_ORCHESTRATION__BATCH_SIZE", "10")
    get_settings.cache_clear()
    last = max(a.at.date() for a in q.arrivals)
    _deliver(q, last)
    flow = collect_with_configured_runner()
    assert type(flow.task_runner).__name__ == "DaskTaskRunner"
    result = flow(api=False)
    assert result["files"] == len(q.arrivals)
    assert result["submissions_new"] == len(q.arrivals)
    assert _snapshot()["submissions"] == len(q.arrivals)
