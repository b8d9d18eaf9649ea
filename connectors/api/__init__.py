"""JSON REST sources: ``config/sources.yaml``, a retrying paginated client, and a loopback server.

The flows and the CLI call :func:`load_sources`, :func:`resolve_token` and
:func:`fetch_pages`, and store each page with its watermark in one transaction.
:class:`~connectors.api.loopback.LoopbackApi` (import it from ``connectors.api.loopback``)
serves records on 127.0.0.1 for the tests and the demo.
"""

from .client import Page, fetch_pages
from .config import (
    AuthConfig,
    CursorPagination,
    PagePagination,
    SourceConfig,
    WatermarkConfig,
    get_source,
    load_sources,
    resolve_token,
    url_override_env,
)
from .http import ApiSourceUnavailable, backoff_delay, retry_after_seconds
from .mapping import ApiRecord, content_hash, map_record

__all__ = [
    "ApiRecord",
    "ApiSourceUnavailable",
    "AuthConfig",
    "CursorPagination",
    "Page",
    "PagePagination",
    "SourceConfig",
    "WatermarkConfig",
    "backoff_delay",
    "content_hash",
    "fetch_pages",
    "get_source",
    "load_sources",
    "map_record",
    "resolve_token",
    "retry_after_seconds",
    "url_override_env",
]
