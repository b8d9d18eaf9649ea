"""Prefect tasks, one per batch of work (a task costs ~10 ms and memory in the run, so never
one per file or per e-mail). Each opens its own ``AppContext``, so it runs the same in a
thread, a Dask worker process or a remote worker."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.tasks import exponential_backoff

from duban.store.db import SHANGHAI
from duban_app.collect import CollectReport, collect_api, collect_files
from duban_app.context import AppContext
from duban_app.cycle import reconcile_period, write_templates
from duban_app.notices import StageRun, run_stage
from duban_app.summary import Summary, write_bulletin
from flows.artifacts import status_rows
from flows.secrets import smtp_password

__all__ = [
    "collect_api_task",
    "collect_batch",
    "reconcile_task",
    "send_stage",
    "summarize_task",
    "templates_task",
]

IO_RETRIES = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
}


@task(name="collect-batch", **IO_RETRIES)
def collect_batch(
    paths: list[str], period: str | None = None, received: dict[str, str] | None = None
) -> dict[str, Any]:
    """Read and store a batch of files; a retry is safe (stored files are recognised by hash)."""
    ctx = AppContext()
    try:
        at = {p: datetime.fromisoformat(v) for p, v in (received or {}).items()}
        rep = collect_files(
            ctx, [Path(p) for p in paths], period=period, received_at=(lambda p: at[str(p)]) if at else None
        )
        get_run_logger().info(
            "batch of %d files: %d new submissions, %d quarantined",
            len(paths),
            rep.submissions_new,
            rep.quarantined,
        )
        return rep.as_dict()
    finally:
        ctx.close()


@task(name="collect-api", **IO_RETRIES)
def collect_api_task(
    period: str | None = None,
    sources: list[str] | None = None,
    token: str | None = None,
    record_time: bool = False,
) -> dict[str, Any]:
    """Pull API sources page by page; a retry resumes from the stored watermark."""
    ctx = AppContext()
    try:
        if not ctx.settings.sources_path.exists():
            return CollectReport().as_dict()
        rep = collect_api(ctx, source_names=sources, period=period, token=token, record_time=record_time)
        get_run_logger().info(
            "API: %d new records, %d already stored", rep.api_records_new, rep.api_records_known
        )
        return rep.as_dict()
    finally:
        ctx.close()


@task(name="reconcile")
def reconcile_task(period: str, today: date | None = None) -> list[dict[str, Any]]:
    ctx = AppContext()
    try:
        rep = reconcile_period(ctx, period, today=today)
        get_run_logger().info(
            "%s: expected %d, received %d, findings %s", period, rep.expected, rep.received, rep.findings
        )
        return status_rows(rep.units)  # reconcile already computed the per-unit status
    finally:
        ctx.close()


@task(name="templates", **IO_RETRIES)
def templates_task(period: str, out_dir: str | None = None) -> int:
    ctx = AppContext()
    try:
        return len(
            write_templates(ctx, period, Path(out_dir) if out_dir else ctx.settings.path("templates", period))
        )
    finally:
        ctx.close()


@task(
    name="send-notices", tags=["smtp"], retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=5)
)
def send_stage(period: str, stage: str, dry_run: bool = False, when: datetime | None = None) -> StageRun:
    """One stage for every unit, over one SMTP connection; the outbox makes a retry safe."""
    ctx = AppContext()
    try:
        clock = (lambda: when) if when else (lambda: datetime.now(SHANGHAI))
        password = None if dry_run else smtp_password()
        res = run_stage(ctx, period, stage, dry_run=dry_run, when=clock, password=password)
        r = res.report
        get_run_logger().info(
            "%s %s: sent %d, skipped %d, failed %d, already sent %d",
            period,
            stage,
            r.sent,
            r.skipped,
            r.failed,
            r.already_sent,
        )
        return res
    finally:
        ctx.close()


@task(name="summarize", **IO_RETRIES)
def summarize_task(period: str, out_dir: str | None = None, issued_on: date | None = None) -> Summary:
    ctx = AppContext()
    try:
        return write_bulletin(ctx, period, Path(out_dir) if out_dir else None, issued_on=issued_on)
    finally:
        ctx.close()
