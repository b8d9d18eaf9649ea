"""The one settings object: ``config/settings.yaml`` overlaid with ``DUBAN_*`` environment.

Only this module reads ``os.environ`` for configuration; everything else receives a
``Settings`` instance. Secrets (the SMTP password, API tokens) come from the environment or
Prefect blocks, never from the YAML.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["REPO_ROOT", "Settings", "StageConfig", "get_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent


class OfficeConfig(BaseModel):
    name: str = "数字政府建设工作领导小组办公室"
    short_name: str = "办公室"
    email: str = "office@example.gov.cn"
    phone: str = ""
    submit_hint: str = ""


class PlanConfig(BaseModel):
    document: str = "plans/lishui-2022-29.txt"


class CalendarConfig(BaseModel):
    timezone: str = "Asia/Shanghai"
    cadence: Literal["quarterly", "monthly"] = "quarterly"
    window_opens_days_before_end: int = 10
    deadline_working_days: int = 5
    extra_holidays: list[str] = Field(default_factory=list)
    extra_workdays: list[str] = Field(default_factory=list)


class StageConfig(BaseModel):
    id: str
    name: str
    anchor: Literal["window_open", "deadline"] = "deadline"
    offset_working_days: int = 0
    attach_template: bool = False
    copy_supervisor: bool = False
    copy_office: bool = False


class SmtpConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["ssl", "starttls", "none"] = "none"
    user: str | None = None
    password: SecretStr | None = None
    mail_from: str = "duban@example.gov.cn"
    timeout_s: float = 30
    rate_per_second: float = 20
    retries: int = 3
    prefect_block: str | None = None


class ImConfig(BaseModel):
    enabled: bool = False
    url_env: str = "DUBAN_IM_URL"


class CollectionConfig(BaseModel):
    max_file_bytes: int = 20_000_000
    max_uncompressed_bytes: int = 200_000_000
    fuzzy_accept: float = 90
    fuzzy_suggest: float = 70
    senders: dict[str, str] = Field(default_factory=dict)
    #: Processes reading files (0: one per core; 1: read in the calling process).
    read_workers: int = 0


class OrchestrationConfig(BaseModel):
    task_runner: Literal["thread", "dask"] = "thread"
    dask_workers: int = 2
    batch_size: int = 1000
    smtp_concurrency_tag: str = "smtp"


class BulletinConfig(BaseModel):
    #: Above this many units, the docx / PDF / HTML 附件1 lists only the units needing attention
    #: (未报, 迟报, 不合格; worst first, at most this many); the xlsx appendix keeps every unit.
    docx_unit_rows_max: int = Field(default=150, ge=1)


class RatingConfig(BaseModel):
    bands: list[float] = Field(default_factory=lambda: [0.95, 0.85, 0.70, 0.50])
    invalid_penalty_threshold: float = 0.10


_SHORT_ENV = {
    "DUBAN_SMTP_HOST": ("smtp", "host"),
    "DUBAN_SMTP_PORT": ("smtp", "port"),
    "DUBAN_SMTP_SECURITY": ("smtp", "security"),
    "DUBAN_SMTP_USER": ("smtp", "user"),
    "DUBAN_SMTP_PASSWORD": ("smtp", "password"),
    "DUBAN_MAIL_FROM": ("smtp", "mail_from"),
}


class _YamlSource(PydanticBaseSettingsSource):
    """Reads ``settings.yaml`` from the config directory (lowest priority after defaults)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        config_dir = Path(os.environ.get("DUBAN_CONFIG_DIR", REPO_ROOT / "config"))
        path = config_dir / "settings.yaml"
        data: dict[str, Any] = {}
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for env, (section, key) in _SHORT_ENV.items():
            if os.environ.get(env):
                data.setdefault(section, {})[key] = os.environ[env]
        return data


class Settings(BaseSettings):
    """Everything configurable about a duban installation."""

    model_config = SettingsConfigDict(env_prefix="DUBAN_", env_nested_delimiter="__", extra="ignore")

    home: Path = Path("var")
    database_url: str | None = None
    config_dir: Path = REPO_ROOT / "config"
    office: OfficeConfig = Field(default_factory=OfficeConfig)
    plan: PlanConfig = Field(default_factory=PlanConfig)
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    stages: list[StageConfig] = Field(default_factory=list)
    smtp: SmtpConfig = Field(default_factory=SmtpConfig)
    im: ImConfig = Field(default_factory=ImConfig)
    collection: CollectionConfig = Field(default_factory=CollectionConfig)
    rating: RatingConfig = Field(default_factory=RatingConfig)
    bulletin: BulletinConfig = Field(default_factory=BulletinConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def db_url(self) -> str:
        """The store's SQLAlchemy URL: ``DUBAN_DATABASE_URL`` or a SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'duban.db').resolve()}"

    @property
    def plan_path(self) -> Path:
        p = Path(self.plan.document)
        return p if p.is_absolute() else self.config_dir / p

    @property
    def units_path(self) -> Path:
        return self.config_dir / "units.yaml"

    @property
    def sources_path(self) -> Path:
        return self.config_dir / "sources.yaml"

    def stage(self, stage_id: str) -> StageConfig:
        for s in self.stages:
            if s.id == stage_id:
                return s
        known = ", ".join(s.id for s in self.stages)
        raise ValueError(f"Unknown notice stage {stage_id!r}; configured stages: {known}")

    def path(self, *parts: str) -> Path:
        """A path under ``DUBAN_HOME``, created on demand for directories."""
        return self.home.joinpath(*parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()
