"""The ``collect`` flow: inbox files in batches (on Dask when configured) and API sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from prefect import Flow, flow, get_run_logger

from duban.settings import get_settings
from duban_app.collect import CollectReport, find_files
from flows.tasks import collect_api_task, collect_batch

T = TypeVar("T")

__all__ = ["batches", "collect", "collect_with_configured_runner", "merge_reports", "run_collection"]


def batches(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]


def merge_reports(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total = CollectReport()
    for p in parts:
        other = CollectReport(**{k: v for k, v in p.items() if k != "findings"})
        other.findings.update(p.get("findings", {}))
        total.merge(other)
    return total.as_dict()


def run_collection(
    *,
    period: str | None = None,
    inbox: str | None = None,
    sources: list[str] | None = None,
    batch_size: int | None = None,
    api: bool = True,
    received: dict[str, str] | None = None,
    record_time: bool = False,
) -> dict[str, Any]:
    """Submit the collection tasks (file batches, then the API) in the calling flow; merge their reports."""
    settings = get_settings()
    root = Path(inbox) if inbox else settings.path("inbox")
    files = [str(p) for p in find_files(root)] if root.exists() else []
    size = batch_size or settings.orchestration.batch_size
    # Batches in flight: on threads one at a time — a batch reads its files on every core
    # (collection.read_workers) and SQLite takes one writer at a time; on Dask one per Dask
    # worker, each reading in-process. Unbounded, 20 batches took 6.8 GB at province scale.
    dask = settings.orchestration.task_runner == "dask"
    workers = max(1, settings.orchestration.dask_workers) if dask else 1
    work = batches(files, size)
    parts: list[dict[str, Any]] = []
    for wave in batches(work, workers):
        arrivals = [{p: received[p] for p in b if p in received} if received else None for b in wave]
        futures = [collect_batch.submit(b, period, at) for b, at in zip(wave, arrivals, strict=True)]
        parts.extend(f.result() for f in futures)
    if api:
        parts.append(collect_api_task(period, sources, record_time=record_time))
    result = merge_reports(parts)
    get_run_logger().info("collected %d files in %d batch(es): %s", len(files), len(work), result)
    return result


@flow(name="collect")
def collect(
    period: str | None = None,
    inbox: str | None = None,
    sources: list[str] | None = None,
    batch_size: int | None = None,
    api: bool = True,
    received: dict[str, str] | None = None,
    record_time: bool = False,
) -> dict[str, Any]:
    """Collect every file in the inbox (default $DUBAN_HOME/inbox) and every API source.

    ``received`` maps a path to its arrival time (ISO) when the file's mtime is not it;
    ``record_time`` takes an API record's own update time as its arrival (replays, the demo).
    """
    return run_collection(
        period=period,
        inbox=inbox,
        sources=sources,
        batch_size=batch_size,
        api=api,
        received=received,
        record_time=record_time,
    )


def collect_with_configured_runner() -> Flow:
    """``collect`` on the configured task runner: Dask when ``orchestration.task_runner: dask``."""
    settings = get_settings()
    if settings.orchestration.task_runner != "dask":
        return collect
    from prefect_dask import DaskTaskRunner

    return collect.with_options(
        task_runner=DaskTaskRunner(
            cluster_kwargs={
                "n_workers": settings.orchestration.dask_workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    )
