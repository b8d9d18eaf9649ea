"""Job: configured API sources → stored submissions, page by page.

Each page and its watermark are stored in one transaction (``duban.collect.records``): a
failed page is fetched again, never half stored, and the watermark moves only with its
records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from duban.collect.identify import identify
from duban.collect.intake import ApiEntry, read_watermark, store_api_page
from duban.collect.validate import validate_table
from duban.domain import Catalogue, SheetTable, SubmissionRow
from duban.periods import normalise_period_key
from duban.store.db import SHANGHAI
from duban_app.context import AppContext
from duban_app.report import CollectReport

__all__ = ["collect_api"]


def collect_api(
    ctx: AppContext,
    *,
    source_names: Sequence[str] | None = None,
    period: str | None = None,
    token: str | None = None,
    now: Callable[[], datetime] | None = None,
    record_time: bool = False,
) -> CollectReport:
    """Pull every configured API source page by page; each page and its watermark in one transaction."""
    from connectors.api import fetch_pages, load_sources, resolve_token

    catalogue, version = ctx.catalogue(with_units=False)
    sources = load_sources(ctx.settings.sources_path)
    if source_names:
        unknown = set(source_names) - {s.name for s in sources}
        if unknown:
            raise ValueError(f"unknown source(s) {sorted(unknown)}; configured: {[s.name for s in sources]}")
        sources = [s for s in sources if s.name in source_names]
    rep = CollectReport()
    clock = now or (lambda: datetime.now(SHANGHAI))
    for src in sources:
        since = read_watermark(ctx.store, src.name)
        for page in fetch_pages(src, since=since, token=token or resolve_token(src)):
            entries = [
                _api_entry(ctx, catalogue, src.name, rec, period, clock(), record_time)
                for rec in page.records
            ]
            new, known = store_api_page(
                ctx.store,
                source=src.name,
                entries=entries,
                watermark=page.watermark,
                catalogue_version=version,
            )
            rep.api_records_new += new
            rep.api_records_known += known
            for e in entries:
                rep.findings.update(str(f.kind) for f in e.findings)
                rep.items_accepted += 1 if e.item is not None else 0
    return rep


def _record_period(stated: str | None, period: str | None) -> str | None:
    """The record's own period when it is a period at all, else the collection's: a record saying
    "../x" or "四季度" gets an UNKNOWN_PERIOD finding from ``identify`` (it is still the table's
    hint), never a ValueError that would stop the pull at this record on every run."""
    if stated:
        try:
            normalise_period_key(stated)
            return stated
        except ValueError:
            return period
    return period


def _api_entry(
    ctx: AppContext,
    catalogue: Catalogue,
    source: str,
    rec: Any,
    period: str | None,
    received_at: datetime,
    record_time: bool,
) -> ApiEntry:
    """One record → an ApiEntry; ``record_time`` takes the record's own update time as received (replays)."""
    table = SheetTable(
        source=f"{source}:{rec.record_id}",
        sheet=None,
        header_row=None,
        columns={},
        rows=[SubmissionRow(row=1, values=dict(rec.values))],
        period_hint=rec.period or period,
    )
    ident = identify(table, ctx.directory, filename="", cli_period=_record_period(rec.period, period))
    findings = list(ident.findings)
    item = None
    if ident.unit and ident.period:
        items, vfind = validate_table(
            table,
            catalogue,
            ident.unit,
            ident.period,
            accept=ctx.settings.collection.fuzzy_accept,
            suggest=ctx.settings.collection.fuzzy_suggest,
        )
        findings.extend(vfind)
        item = items[0] if items else None
    at = received_at
    if record_time and rec.updated_at:
        at = datetime.fromisoformat(rec.updated_at).astimezone(SHANGHAI)
    return ApiEntry(
        record_id=rec.record_id,
        content_hash=rec.content_hash,
        received_at=at,
        unit=ident.unit,
        unit_raw=rec.unit,
        period=ident.period,
        item=item,
        findings=findings,
        raw=rec.raw,
    )
