"""The ``reconcile`` flow: findings and the per-unit status table of a period."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from duban.periods import period_for, today
from duban.settings import get_settings
from flows.artifacts import status_artifact
from flows.tasks import reconcile_task

__all__ = ["default_period", "reconcile"]


def default_period(period: str | None, run_date: date | None = None) -> str:
    """The period a scheduled run means: given, or the one whose deadline is nearest ahead of today."""
    if period:
        return period
    settings = get_settings()
    d = run_date or today(settings)
    from duban.periods import previous_period

    current = period_for(d, settings)
    prev = previous_period(current, settings)
    return prev.key if d <= prev.deadline or d < current.window_opens else current.key


@flow(name="reconcile")
def reconcile(period: str | None = None, run_date: date | None = None) -> list[dict[str, Any]]:
    key = default_period(period, run_date)
    rows = reconcile_task(key, run_date)
    status_artifact(key, rows)
    return rows
