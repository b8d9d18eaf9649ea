"""Pull a JSON REST source page by page, so that nothing is lost or stored twice.

The caller stores each :class:`Page`'s records and its ``watermark`` in one transaction,
then asks for the next page; a crash or a failed later page therefore loses nothing, and a
rerun starts from the stored watermark. The watermark filter is expected to be inclusive
(``updated_at >= since``) so records sharing the boundary timestamp are never skipped; the
few it returns again are dropped by the store's (source, record id, content hash) key.

Transient failures — timeouts, connection errors, HTTP 429 (honouring ``Retry-After``), 5xx,
truncated or invalid JSON, a page the server repeats — are retried with capped exponential
backoff; after the last retry :class:`ApiSourceUnavailable` names the source, URL, status,
attempts and last error. Other 4xx fail at once. A failed attempt never yields a partial page.

Pagination and the watermark:

* ``cursor`` — a keyset cursor in watermark order: every page carries the max watermark seen
  so far. If records arrive out of order the watermark is held back until the last page.
* ``page`` — offset paging can skip a record when the data change mid-run (an updated record
  moves to the end and everything after its old place shifts back one). So the watermark is
  only given on the last page of a *stable* pass (same ``total``, no record seen in two
  versions); after an unstable pass the pages are read once more (at most 3 passes) to catch
  records that slipped between pages. Intermediate pages carry ``watermark=None``: keep the
  stored one.

The token goes only into the request header; it is never logged or put into a message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from duban.errors import ConfigError

from .config import CursorPagination, PagePagination, SourceConfig
from .http import ApiSourceUnavailable, Fetcher, Retryable
from .mapping import ApiRecord, dig, map_record

__all__ = ["MAX_PASSES", "Page", "fetch_pages"]

log = logging.getLogger("duban.api")
MAX_PASSES = 3
_SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class Page:
    """One page: records not yet yielded in this run, and the watermark to store with them.

    ``watermark`` is None when the stored watermark must stay as it is. ``number`` counts pages
    in this run (1-based, across passes), ``position`` is the cursor or page number requested
    (None for the first cursor page), ``final`` marks the run's last page and ``dropped`` the
    records left out because this run had already yielded them (or they predate ``since``).
    """

    records: list[ApiRecord]
    watermark: str | None
    number: int
    position: str | None
    url: str
    final: bool
    dropped: int = 0


def _wm_key(value: Any) -> tuple[int, float, str]:
    """Order watermark values: numbers, then ISO timestamps (naive = Asia/Shanghai), then text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    text = str(value)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return (2, 0.0, text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_SHANGHAI)
    return (1, dt.timestamp(), text)


class _Run:
    """State of one run over a source: what was yielded, the watermark, the page count."""

    def __init__(self, source: SourceConfig, since: str | None, fetcher: Fetcher) -> None:
        self.source = source
        self.since = since
        self.fetch = fetcher
        self.yielded: set[tuple[str, str]] = set()
        self.max_wm: str | None = None
        self.number = 0

    # -- shared -----------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.source.params)
        wm = self.source.watermark
        if self.since is not None and wm and wm.param:
            params[wm.param] = self.since
        return params

    def _records(self, payload: Any, pass_seen: dict[str, str]) -> list[ApiRecord]:
        field = self.source.records_field
        items = dig(payload, field) if field else payload
        if field and not isinstance(payload, dict):
            raise Retryable(f"response is a JSON {type(payload).__name__}, expected an object with {field!r}")
        if not isinstance(items, list):
            raise Retryable(f"response has no list at {field or '(top level)'!r}")
        records = []
        for i, obj in enumerate(items):
            if not isinstance(obj, dict):
                raise Retryable(f"record {i} of the page is a JSON {type(obj).__name__}, not an object")
            records.append(map_record(self.source, obj))
        if records and all(pass_seen.get(r.record_id) == r.content_hash for r in records):
            raise Retryable("the server repeated a page already received")
        return records

    def _next_number(self) -> int:
        self.number += 1
        if self.number > self.source.max_pages:
            raise ApiSourceUnavailable(
                self.source.name, self.source.url, f"more than max_pages={self.source.max_pages} pages"
            )
        return self.number

    def _accept(self, records: list[ApiRecord], pass_seen: dict[str, str]) -> tuple[list[ApiRecord], int]:
        """Drop what this run already yielded (and, without a server filter, what predates ``since``)."""
        wm = self.source.watermark
        client_filter = self.since is not None and wm is not None and not wm.param
        out: list[ApiRecord] = []
        dropped = 0
        for rec in records:
            pass_seen[rec.record_id] = rec.content_hash
            if client_filter and rec.updated_at is not None and _wm_key(rec.updated_at) < _wm_key(self.since):
                dropped += 1
                continue
            key = (rec.record_id, rec.content_hash)
            if key in self.yielded:
                dropped += 1
                continue
            self.yielded.add(key)
            out.append(rec)
            if rec.updated_at is not None and (
                self.max_wm is None or _wm_key(rec.updated_at) > _wm_key(self.max_wm)
            ):
                self.max_wm = rec.updated_at
        return out, dropped

    def _log(self, page: Page) -> Page:
        log.info(
            "%s: page %d (%s): %d new record(s), %d dropped as already received; watermark %s%s",
            self.source.name,
            page.number,
            page.position or "first",
            len(page.records),
            page.dropped,
            page.watermark or "unchanged",
            " [last]" if page.final else "",
        )
        return page

    # -- cursor -----------------------------------------------------------------------------
    def cursor_pages(self, pg: CursorPagination) -> Iterator[Page]:
        cursor: str | None = None
        used: set[str | None] = set()
        pass_seen: dict[str, str] = {}
        committed: str | None = None
        hold = False

        def check(payload: Any) -> tuple[list[ApiRecord], str | None]:
            records = self._records(payload, pass_seen)
            nxt = dig(payload, pg.next_field)
            return records, (None if nxt in (None, "") else str(nxt))

        while True:
            number = self._next_number()
            params = self._params()
            if pg.limit_param:
                params[pg.limit_param] = pg.limit
            if cursor is not None:
                params[pg.cursor_param] = cursor
            records, nxt = self.fetch.get(params, check)
            used.add(cursor)
            if nxt is not None and nxt in used:
                raise ApiSourceUnavailable(
                    self.source.name,
                    self.source.url,
                    f"cursor loop: next cursor {nxt!r} was already requested in this run",
                )
            if committed is not None and not hold:
                late = [
                    r
                    for r in records
                    if r.updated_at is not None and _wm_key(r.updated_at) < _wm_key(committed)
                ]
                if late:
                    hold = True
                    log.warning(
                        "%s: record %s arrived out of watermark order (%s < %s); watermark held until the "
                        "last page",
                        self.source.name,
                        late[0].record_id,
                        late[0].updated_at,
                        committed,
                    )
            fresh, dropped = self._accept(records, pass_seen)
            final = nxt is None
            wm = self.max_wm if (final or not hold) else None
            committed = wm or committed
            yield self._log(Page(fresh, wm, number, cursor, self.source.url, final, dropped))
            if final:
                return
            cursor = nxt

    # -- page -------------------------------------------------------------------------------
    def page_pages(self, pg: PagePagination) -> Iterator[Page]:
        for pass_no in range(1, MAX_PASSES + 1):
            pass_seen: dict[str, str] = {}
            first_total: int | None = None
            stable = True
            full = 0
            page_no = pg.first_page

            def check(payload: Any, seen: dict[str, str] = pass_seen) -> tuple[list[ApiRecord], int | None]:
                records = self._records(payload, seen)
                total = dig(payload, pg.total_field) if pg.total_field and isinstance(payload, dict) else None
                try:
                    return records, None if total is None else int(total)
                except (TypeError, ValueError):
                    return records, None

            while True:
                number = self._next_number()
                params = self._params()
                params[pg.page_param] = page_no
                if pg.size_param:
                    params[pg.size_param] = pg.size
                records, total = self.fetch.get(params, check)
                if total is not None:
                    if first_total is None:
                        first_total = total
                    elif total != first_total:
                        stable = False
                if any(pass_seen.get(r.record_id, r.content_hash) != r.content_hash for r in records):
                    stable = False
                full = max(full, len(records))
                read = page_no - pg.first_page + 1
                last = not records or len(records) < full or (total is not None and read * full >= total)
                fresh, dropped = self._accept(records, pass_seen)
                give_up = last and not stable and pass_no == MAX_PASSES
                if give_up:
                    log.warning(
                        "%s: data kept changing over %d passes; watermark not advanced, the next run "
                        "reads this range again",
                        self.source.name,
                        MAX_PASSES,
                    )
                wm = self.max_wm if last and stable else None
                yield self._log(
                    Page(
                        fresh,
                        wm,
                        number,
                        str(page_no),
                        self.source.url,
                        last and (stable or give_up),
                        dropped,
                    )
                )
                if last:
                    break
                page_no += 1
            if stable:
                return
            log.info(
                "%s: data changed during pass %d; reading the pages again to catch records that shifted "
                "between pages",
                self.source.name,
                pass_no,
            )


def fetch_pages(
    source: SourceConfig,
    *,
    since: str | None,
    token: str | None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> Iterator[Page]:
    """Yield the source's pages from ``since`` on; store each page (and its watermark) before the next.

    Raises ConfigError when the source needs a token and none is given, ApiSourceUnavailable
    (a :class:`duban.errors.SourceUnavailable`) when a page cannot be had.
    """
    if source.auth is not None and not token:
        raise ConfigError(
            f"source {source.name!r}: no API token; set environment variable {source.auth.env or '-'} "
            f"or Prefect Secret block {source.auth.prefect_secret or '-'}"
        )
    own = client is None
    http = client or httpx.Client(
        follow_redirects=True, headers={"Accept": "application/json", "User-Agent": "duban-api-connector"}
    )
    try:
        run = _Run(source, since, Fetcher(source, token, http, sleep))
        pg = source.pagination
        if isinstance(pg, CursorPagination):
            yield from run.cursor_pages(pg)
        else:
            yield from run.page_pages(pg)
    finally:
        if own:
            http.close()
