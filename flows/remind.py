"""The ``remind`` flow: one notice stage of a period, sent through the outbox."""

from __future__ import annotations

from datetime import date

from prefect import flow

from duban.settings import get_settings
from flows.artifacts import outbox_artifact
from flows.reconcile import default_period
from flows.tasks import reconcile_task, send_stage

__all__ = ["remind"]


@flow(name="remind")
def remind(
    stage: str, period: str | None = None, dry_run: bool = False, run_date: date | None = None
) -> dict[str, int]:
    """Reconcile first (the lists must be fresh), then send the stage; never twice per unit."""
    key = default_period(period, run_date)
    get_settings().stage(stage)  # a clear error for an unknown stage before any work
    reconcile_task(key, run_date)
    res = send_stage(key, stage, dry_run=dry_run)
    outbox_artifact(key, stage, res.report)
    r = res.report
    return {"sent": r.sent, "skipped": r.skipped, "failed": r.failed, "already_sent": r.already_sent}
