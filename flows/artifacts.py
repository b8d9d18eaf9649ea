"""Prefect artifacts with stable keys, so each period's latest result is one click away."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from duban.bulletin.metrics import Metrics
from duban.notices.outbox import DeliveryReport
from duban.reconcile import UnitStatus

__all__ = ["artifact_key", "bulletin_artifact", "outbox_artifact", "status_artifact", "status_rows"]


def artifact_key(*parts: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def status_rows(units: list[UnitStatus]) -> list[dict[str, Any]]:
    """The per-unit status table as the tasks return it and the artifact shows it."""
    return [u.as_json() | {"late_days": u.late_days} for u in units]


def status_artifact(period: str, rows: list[dict[str, Any]]) -> None:
    create_table_artifact(
        key=artifact_key("unit-status", period),
        table=rows,
        description=f"{period} 各单位报送情况 (expected / on time / late / missing / invalid)",
    )


def outbox_artifact(period: str, stage: str, report: DeliveryReport) -> None:
    rows = [
        {
            "sent": report.sent,
            "skipped": report.skipped,
            "failed": report.failed,
            "already_sent": report.already_sent,
            "pending": report.pending,
        }
    ]
    create_table_artifact(
        key=artifact_key("outbox", period, stage),
        table=rows,
        description=f"{period} {stage} notices: " + "; ".join(report.lines[:20]),
    )


def bulletin_artifact(period: str, files: dict[str, Path], metrics: Metrics) -> None:
    c = metrics.overall
    counts = "，".join(f"{k} {v}" for k, v in c.counts.items())
    lines = [
        f"# {period} 季度通报",
        "",
        f"- 任务 {c.total} 项：{counts}",
        "",
        "| format | file |",
        "| --- | --- |",
        *[f"| {k} | `{v}` |" for k, v in sorted(files.items())],
    ]
    create_markdown_artifact(
        key=artifact_key("bulletin", period),
        markdown="\n".join(lines),
        description=f"{period} bulletin files",
    )
