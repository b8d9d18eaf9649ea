"""One HTTP GET with retries: what counts as transient, how long to wait, what to tell the operator.

Transient: timeouts, connection errors, HTTP 429 and 5xx (waiting ``Retry-After`` when the
server gives one, in seconds or as an HTTP-date), and a body that is not the JSON expected.
Those are retried with capped exponential backoff; any other 4xx fails at once. The final
:class:`ApiSourceUnavailable` names the source, URL, status, attempts and last error — and
never the token, which is redacted from anything the server echoes back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from duban.errors import SourceUnavailable

from .config import SourceConfig

__all__ = ["ApiSourceUnavailable", "Fetcher", "Retryable", "backoff_delay", "retry_after_seconds"]

log = logging.getLogger("duban.api")
T = TypeVar("T")


class ApiSourceUnavailable(SourceUnavailable):
    """The source failed (after ``attempts`` tries); rerun later — nothing was stored from this page."""

    def __init__(self, source: str, url: str, reason: str, *, status: int | None = None, attempts: int = 1):
        where = f"{source}: GET {url}"
        tries = (
            f" failed after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts > 1 else " failed"
        )
        super().__init__(f"{where}{tries}{f' (HTTP {status})' if status else ''}: {reason}")
        self.source = source
        self.url = url
        self.reason = reason
        self.status = status
        self.attempts = attempts


class Retryable(Exception):
    """A transient failure of one attempt; ``retry_after`` is the server's requested wait, if any."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (None if absent/bad)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value)) if math.isfinite(float(value)) else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(source: SourceConfig, attempt: int) -> float:
    """``backoff_s * 2**(attempt-1)``, capped at ``backoff_cap_s``."""
    return min(source.backoff_cap_s, source.backoff_s * 2 ** max(0, attempt - 1))


def _server_message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:200]
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "msg"):
            if body.get(key):
                return str(body[key])[:200]
    return str(body)[:200]


class Fetcher:
    """One HTTP GET with retries; ``check`` turns the JSON into a result or raises Retryable."""

    def __init__(
        self, source: SourceConfig, token: str | None, client: httpx.Client, sleep: Callable[[float], Any]
    ):
        self.source = source
        self.client = client
        self.sleep = sleep
        self.token = token
        self.headers = {source.auth.header: source.auth.header_value(token)} if source.auth and token else {}

    def _redact(self, text: str) -> str:
        return text.replace(self.token, "***") if self.token else text

    def get(self, params: dict[str, Any], check: Callable[[Any], T]) -> T:
        src = self.source
        url = str(httpx.URL(src.url, params=params))
        attempts = src.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return check(self._once(url, params))
            except Retryable as exc:
                last = exc
            if attempt == attempts:
                raise ApiSourceUnavailable(
                    src.name,
                    url,
                    f"last error: {self._redact(last.reason)}",
                    status=last.status,
                    attempts=attempts,
                )
            delay = last.retry_after if last.retry_after is not None else backoff_delay(src, attempt)
            if delay > src.max_retry_after_s:
                raise ApiSourceUnavailable(
                    src.name,
                    url,
                    f"server asks to wait {delay:.0f} s (Retry-After), more than "
                    f"max_retry_after_s={src.max_retry_after_s:g}; rerun later",
                    status=last.status,
                    attempts=attempt,
                )
            log.warning(
                "%s: GET %s: %s; retry %d/%d in %.2f s",
                src.name,
                url,
                last.reason,
                attempt,
                src.retries,
                delay,
            )
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, url: str, params: dict[str, Any]) -> Any:
        src = self.source
        try:
            resp = self.client.get(src.url, params=params, headers=self.headers, timeout=src.timeout_s)
        except httpx.TimeoutException as exc:
            raise Retryable(f"timeout after {src.timeout_s:g} s ({type(exc).__name__})") from None
        except httpx.RequestError as exc:
            raise Retryable(f"{type(exc).__name__}: {self._redact(str(exc))}") from None
        status = resp.status_code
        if status == 429 or status >= 500:
            message = self._redact(_server_message(resp))
            reason = f"HTTP {status}{': ' + message if message else ''}"
            raise Retryable(reason, status, retry_after_seconds(resp.headers.get("Retry-After")))
        if status in (401, 403):
            auth = src.auth
            hint = (
                f"check the token in environment variable {auth.env or '-'} "
                f"(or Prefect Secret {auth.prefect_secret or '-'})"
                if auth
                else "the source has no auth configured in sources.yaml"
            )
            raise ApiSourceUnavailable(
                src.name,
                url,
                f"access refused: {hint}; server said: {self._redact(_server_message(resp))}",
                status=status,
            )
        if status >= 300:
            raise ApiSourceUnavailable(
                src.name, url, f"server said: {self._redact(_server_message(resp))}", status=status
            )
        try:
            return resp.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise Retryable(f"invalid JSON in response ({len(resp.content)} bytes): {exc}", status) from None
