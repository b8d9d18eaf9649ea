"""A small reporting API on 127.0.0.1 that serves unit progress records and misbehaves on demand.

Why: the connector's promises (retries, no lost or doubled records, a correct watermark) are
only worth something against a real HTTP server, and the demo needs a source to pull from
without the internet. :class:`LoopbackApi` serves ``records`` (dicts) sorted by
(``updated_at``, ``id``), filtered by an inclusive ``updated_since`` (``updated_at >= since``),
with keyset-cursor or page pagination and optional bearer/header auth::

    with LoopbackApi(records, token="s3cret", page_size=50, style="cursor") as api:
        os.environ["DUBAN_SOURCE_ZZD_PROGRESS_URL"] = api.base_url
        ...                                   # pull from api.url, then inspect api.requests

Responses: cursor style ``{"data": [...], "next_cursor": "…" | null}``; page style ``{"data":
[...], "page": n, "size": k, "total": t}``. ``limit``/``size`` are honoured up to
``page_size``; the parameter names are those of ``config/sources.yaml``'s example (``cursor``,
``limit``, ``page``, ``size``, ``updated_since``). A :class:`Fault` picks requests by their
1-based index among record requests (``request``) or by page (``page``: the page number, or
for cursors the page's ordinal) and replaces the normal answer with: a ``timeout`` (no answer
for ``delay_s``, then the connection closes), a ``status`` (with ``headers``/``body``), a
``truncate`` (half the body: invalid JSON), a ``repeat`` of the previous page's body, or a
``change`` (upsert ``record`` into the data, then answer ``status`` so the client retries
against changed data). Each fault fires ``times`` times; the first matching fault in the list
wins. ``/healthz`` answers ``ok`` and is not logged.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = ["Fault", "LoopbackApi", "RequestLog"]

FaultAction = Literal["timeout", "status", "truncate", "repeat", "change"]


@dataclass
class Fault:
    """One injected misbehaviour; see the module docstring."""

    action: FaultAction
    request: int | None = None
    page: int | None = None
    times: int = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    delay_s: float = 5.0
    record: dict[str, Any] | None = None

    def matches(self, index: int, page: int) -> bool:
        return (
            self.times > 0
            and (self.request is None or self.request == index)
            and (self.page is None or self.page == page)
        )


@dataclass
class RequestLog:
    """What the server saw and did for one request (``status`` 0: no answer was sent)."""

    index: int
    path: str
    query: dict[str, str]
    authorized: bool
    page: int | None
    status: int
    fault: str | None = None
    at: float = 0.0  #: arrival, time.monotonic()


class LoopbackApi:
    """Threaded JSON API on 127.0.0.1 (a free port); a context manager, safe to use from threads."""

    def __init__(
        self,
        records: Iterable[dict[str, Any]],
        *,
        token: str | None = None,
        page_size: int = 50,
        style: Literal["cursor", "page"] = "cursor",
        faults: Iterable[Fault] = (),
        path: str = "/api/v1/progress",
        header: str = "Authorization",
        scheme: str | None = "Bearer",
        id_field: str = "id",
        watermark_field: str = "updated_at",
        records_field: str = "data",
    ) -> None:
        if style not in ("cursor", "page"):
            raise ValueError(f"style must be 'cursor' or 'page', got {style!r}")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.token = token
        self.page_size = page_size
        self.style = style
        self.faults = list(faults)
        self.path = "/" + path.strip("/")
        self.header = header
        self.scheme = scheme
        self.id_field = id_field
        self.watermark_field = watermark_field
        self.records_field = records_field
        self._records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._log: list[RequestLog] = []
        self._last_body: bytes | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.upsert(*records)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> LoopbackApi:
        if self._server is not None:
            return self
        api = self

        class Handler(_Handler):
            owner = api

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._closing.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LoopbackApi:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("LoopbackApi is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The records endpoint."""
        return self.base_url + self.path

    # -- data -------------------------------------------------------------------------------
    def upsert(self, *records: dict[str, Any]) -> None:
        """Add records or replace them by id (a unit editing its report)."""
        with self._lock:
            for rec in records:
                self._records[str(rec[self.id_field])] = dict(rec)

    def set_faults(self, *faults: Fault) -> None:
        """Replace the pending faults (none: serve normally from now on)."""
        with self._lock:
            self.faults = list(faults)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The current data, in serving order."""
        with self._lock:
            return self._sorted(None)

    @property
    def requests(self) -> list[RequestLog]:
        """Every record request so far, in arrival order."""
        with self._lock:
            return list(self._log)

    def _sorted(self, since: str | None) -> list[dict[str, Any]]:
        rows = [
            r
            for r in self._records.values()
            if since is None or str(r.get(self.watermark_field, "")) >= since
        ]
        return sorted(rows, key=self._key)

    def _key(self, rec: dict[str, Any]) -> tuple[str, str]:
        return (str(rec.get(self.watermark_field, "")), str(rec[self.id_field]))

    # -- serving (called from handler threads) ----------------------------------------------
    def _authorized(self, value: str | None) -> bool:
        if self.token is None:
            return True
        expected = f"{self.scheme} {self.token}" if self.scheme else self.token
        return value == expected

    def _handle(self, handler: _Handler) -> None:
        parts = urlsplit(handler.path)
        if parts.path == "/healthz":
            handler.reply(200, b"ok", content_type="text/plain")
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        authorized = self._authorized(handler.headers.get(self.header))
        with self._lock:
            index = len(self._log) + 1
            entry = RequestLog(index, parts.path, query, authorized, None, 0, at=time.monotonic())
            self._log.append(entry)
            if parts.path.rstrip("/") != self.path:
                entry.status = 404
                answer = (404, _json({"error": f"no such endpoint {parts.path}"}), {})
            elif not authorized:
                entry.status = 401
                answer = (401, _json({"error": "invalid or missing token"}), {})
            else:
                answer = self._serve(query, entry)
        status, body, headers = answer
        if status == 0:  # timeout: keep the client waiting, then drop the connection
            self._closing.wait(float(headers["delay"]))
            handler.close_connection = True
            return
        handler.reply(status, body, headers=headers)

    def _serve(self, query: dict[str, str], entry: RequestLog) -> tuple[int, bytes, dict[str, str]]:
        """Runs under the lock: pick the page, apply a fault, return (status, body, headers)."""
        try:
            page_no, body = self._page(query)
        except ValueError as exc:
            entry.status = 400
            return 400, _json({"error": str(exc)}), {}
        entry.page = page_no
        fault = next((f for f in self.faults if f.matches(entry.index, page_no)), None)
        if fault is None:
            self._last_body = body
            entry.status = 200
            return 200, body, {}
        fault.times -= 1
        entry.fault = fault.action
        if fault.action == "timeout":
            entry.status = 0
            return 0, b"", {"delay": str(fault.delay_s)}
        if fault.action == "truncate":
            entry.status = 200
            return 200, body[: max(1, len(body) // 2)], {}
        if fault.action == "repeat":
            entry.status = 200
            return 200, self._last_body if self._last_body is not None else body, {}
        if fault.action == "change" and fault.record is not None:
            self._records[str(fault.record[self.id_field])] = dict(fault.record)
        entry.status = fault.status
        payload = (
            fault.body if fault.body is not None else json.dumps({"error": f"injected HTTP {fault.status}"})
        )
        return fault.status, payload.encode("utf-8"), dict(fault.headers)

    def _page(self, query: dict[str, str]) -> tuple[int, bytes]:
        rows = self._sorted(query.get("updated_since") or None)
        if self.style == "page":
            page = _positive(query.get("page", "1"), "page")
            size = min(_positive(query.get("size", str(self.page_size)), "size"), self.page_size)
            chunk = rows[(page - 1) * size : page * size]
            return page, _json({self.records_field: chunk, "page": page, "size": size, "total": len(rows)})
        size = min(_positive(query.get("limit", str(self.page_size)), "limit"), self.page_size)
        ordinal, after = 1, None
        if query.get("cursor"):
            try:
                state = json.loads(base64.urlsafe_b64decode(query["cursor"].encode()))
                ordinal, after = int(state["n"]), (str(state["k"][0]), str(state["k"][1]))
            except (ValueError, KeyError, TypeError, IndexError):
                raise ValueError(f"bad cursor {query['cursor']!r}") from None
        if after is not None:
            rows = [r for r in rows if self._key(r) > after]
        chunk = rows[:size]
        nxt = None
        if len(rows) > size:
            state = {"n": ordinal + 1, "k": list(self._key(chunk[-1]))}
            nxt = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
        return ordinal, _json({self.records_field: chunk, "next_cursor": nxt})


def _positive(value: str, name: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be at least 1, got {n}")
    return n


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackApi
    server_version = "duban-loopback/1"

    def do_GET(self) -> None:
        try:
            self.owner._handle(self)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            self.close_connection = True

    def reply(
        self,
        status: int,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json; charset=utf-8",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the owner keeps its own log
        pass
