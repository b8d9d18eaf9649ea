"""``config/sources.yaml``: the JSON REST sources duban pulls unit progress records from.

Why a file and not code: each reporting platform (浙政钉 forms, a provincial supervision
system, a unit's own system) differs only in URL, auth header, pagination and field names,
so the operations team adds a source by editing YAML. The file is validated into pydantic
models up front; a mistake becomes a :class:`duban.errors.ConfigError` naming the file, the
source and the key, before any request is made.

Secrets never live in the file. ``auth.env`` names the environment variable that holds the
token and ``auth.prefect_secret`` a Prefect Secret block the flows may load instead;
:func:`resolve_token` is the one place outside ``duban.settings`` that reads ``os.environ``
(together with the ``DUBAN_SOURCE_<NAME>_URL`` base-URL override applied by
:func:`load_sources`, which lets the demo point a source at a loopback server on a free port).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from duban.domain import FIELDS
from duban.errors import ConfigError

__all__ = [
    "MAPPABLE_FIELDS",
    "AuthConfig",
    "CursorPagination",
    "PagePagination",
    "SourceConfig",
    "WatermarkConfig",
    "get_source",
    "load_sources",
    "resolve_token",
    "url_override_env",
]

#: Canonical names a source may map: the row fields of :data:`duban.domain.FIELDS` plus ``period``.
MAPPABLE_FIELDS: frozenset[str] = frozenset(FIELDS) | {"period"}

_SECRET_KEYS = {"token", "value", "password", "secret", "api_key", "apikey", "key"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthConfig(_Strict):
    """Where the token goes (``header``, ``scheme``) and where it comes from (``env``, ``prefect_secret``)."""

    header: str = "Authorization"
    scheme: str | None = "Bearer"
    env: str | None = None
    prefect_secret: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secret_in_file(cls, data: Any) -> Any:
        if isinstance(data, dict):
            leaked = sorted(k for k in data if str(k).lower() in _SECRET_KEYS)
            if leaked:
                raise ValueError(
                    f"auth.{leaked[0]}: secrets never live in sources.yaml; put the token in an "
                    "environment variable named by auth.env or a Prefect Secret named by auth.prefect_secret"
                )
        return data

    @model_validator(mode="after")
    def _has_origin(self) -> AuthConfig:
        if not self.env and not self.prefect_secret:
            raise ValueError(
                "auth needs env (an environment variable) or prefect_secret (a Secret block name)"
            )
        return self

    def header_value(self, token: str) -> str:
        return f"{self.scheme} {token}" if self.scheme else token


class CursorPagination(_Strict):
    """``?cursor=…&limit=…``; the response names the next cursor (absent/empty on the last page).

    duban assumes a keyset cursor ordered by the watermark field, which is what makes
    per-page watermarks safe.
    """

    style: Literal["cursor"]
    cursor_param: str = "cursor"
    next_field: str = "next_cursor"
    limit_param: str | None = "limit"
    limit: int = Field(200, ge=1, le=10_000)


class PagePagination(_Strict):
    """``?page=…&size=…``; ``total_field`` (if the API has one) is the record count of the query."""

    style: Literal["page"]
    page_param: str = "page"
    size_param: str | None = "size"
    size: int = Field(200, ge=1, le=10_000)
    first_page: int = Field(1, ge=0)
    total_field: str | None = "total"


class WatermarkConfig(_Strict):
    """The record field that orders changes (``field``) and the query parameter that filters on it.

    Without ``param`` the connector filters client-side (it still downloads everything).
    """

    field: str
    param: str | None = None


class SourceConfig(_Strict):
    """One JSON REST source; see ``config/sources.yaml`` for a commented example."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=100)]
    kind: Literal["rest_json"] = "rest_json"
    base_url: str
    path: str = ""
    params: dict[str, str] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    pagination: Annotated[CursorPagination | PagePagination, Field(discriminator="style")]
    records_field: str | None = "data"
    watermark: WatermarkConfig | None = None
    record_id: str = "id"
    fields: dict[str, str]
    timeout_s: float = Field(10, gt=0, le=600)
    retries: int = Field(5, ge=0, le=50)
    backoff_s: float = Field(0.5, ge=0)
    backoff_cap_s: float = Field(30, ge=0)
    max_retry_after_s: float = Field(300, ge=0)
    max_pages: int = Field(100_000, ge=1)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"base_url must start with http:// or https:// and name a host, got {v!r}")
        return v.rstrip("/")

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - MAPPABLE_FIELDS)
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; allowed: {sorted(MAPPABLE_FIELDS)}")
        if "item_id" not in v:
            raise ValueError("fields must map item_id (the task code) to a record field")
        return v

    @property
    def url(self) -> str:
        """The records endpoint: ``base_url`` joined with ``path``."""
        return f"{self.base_url}/{self.path.lstrip('/')}" if self.path else self.base_url


def url_override_env(name: str) -> str:
    """The variable that overrides a source's base URL: ``DUBAN_SOURCE_<NAME>_URL``."""
    return f"DUBAN_SOURCE_{re.sub(r'[^A-Z0-9]', '_', name.upper())}_URL"


def load_sources(
    path: Path | str | None = None, *, env: Mapping[str, str] | None = None
) -> list[SourceConfig]:
    """Read and validate ``sources.yaml`` (default: the settings' ``sources_path``).

    ``DUBAN_SOURCE_<NAME>_URL`` in ``env`` (default ``os.environ``) replaces that source's
    ``base_url``. A missing file means no sources. Raises ConfigError naming file and source.
    """
    if path is None:
        from duban.settings import get_settings

        path = get_settings().sources_path
    path = Path(path)
    environ = os.environ if env is None else env
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    raw = data.get("sources") if isinstance(data, dict) else None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: 'sources' must be a list of sources")
    sources: list[SourceConfig] = []
    for i, entry in enumerate(raw):
        label = entry.get("name") if isinstance(entry, dict) and entry.get("name") else f"#{i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: source {label}: must be a mapping, got {type(entry).__name__}")
        entry = dict(entry)
        override = environ.get(url_override_env(str(entry.get("name", ""))))
        if override:
            entry["base_url"] = override
        try:
            sources.append(SourceConfig.model_validate(entry))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(source)'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"{path}: source {label!r}: {problems}") from None
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: source name(s) {dupes} appear more than once")
    return sources


def get_source(sources: list[SourceConfig], name: str) -> SourceConfig:
    """The source called ``name``, or a ConfigError listing the configured ones."""
    for s in sources:
        if s.name == name:
            return s
    raise ConfigError(
        f"unknown API source {name!r}; configured: {', '.join(s.name for s in sources) or 'none'}"
    )


def resolve_token(source: SourceConfig, *, env: Mapping[str, str] | None = None) -> str | None:
    """The source's token from the environment variable ``auth.env`` (None if unset or no auth).

    The flows fall back to the Prefect Secret block ``auth.prefect_secret`` when this is None.
    The value is never logged.
    """
    if source.auth is None or not source.auth.env:
        return None
    value = (os.environ if env is None else env).get(source.auth.env, "").strip()
    return value or None
