"""The ``summarize`` flow: the quarterly bulletin in every format, with a markdown artifact."""

from __future__ import annotations

from datetime import date

from prefect import flow

from flows.artifacts import bulletin_artifact
from flows.reconcile import default_period
from flows.tasks import reconcile_task, summarize_task

__all__ = ["summarize"]


@flow(name="summarize")
def summarize(
    period: str | None = None, out_dir: str | None = None, run_date: date | None = None
) -> dict[str, str]:
    key = default_period(period, run_date)
    reconcile_task(key, run_date)
    res = summarize_task(key, out_dir, run_date)
    bulletin_artifact(key, res.files, res.metrics)
    return {k: str(v) for k, v in res.files.items()}
