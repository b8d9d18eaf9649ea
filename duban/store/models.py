"""The store's tables (SQLAlchemy 2, typed mappings).

Each stage of the data flow writes its own tables and only reads the ones upstream:
plan/catalogue → submission/submission_item → finding → notice / document. Every side
effect has a natural key with a unique constraint, so a rerun finds its earlier work.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiWatermark",
    "AssignmentRow",
    "Base",
    "CatalogueVersion",
    "ContextRow",
    "DocumentRow",
    "FindingRow",
    "ItemRow",
    "NoticeRow",
    "PlanRow",
    "SubmissionItemRow",
    "SubmissionRow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TS = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class PlanRow(Base):
    __tablename__ = "plan"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_number: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    issued_on: Mapped[date | None] = mapped_column(Date)
    issuer: Mapped[str | None] = mapped_column(String(200))


class CatalogueVersion(Base):
    """One imported state of a plan's catalogue; the newest is the one in force."""

    __tablename__ = "catalogue_version"
    __table_args__ = (UniqueConstraint("plan_id", "content_hash"), UniqueConstraint("plan_id", "version"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(TS)


class ItemRow(Base):
    __tablename__ = "item"
    __table_args__ = (UniqueConstraint("version_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[int | None] = mapped_column(Integer)
    part_key: Mapped[str] = mapped_column(String(10))
    part_title: Mapped[str] = mapped_column(String(500))
    section_key: Mapped[str | None] = mapped_column(String(10))
    section_title: Mapped[str | None] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    deadline: Mapped[str | None] = mapped_column(String(100))


class AssignmentRow(Base):
    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("version_id", "item_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(200), index=True)
    raw: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)


class ContextRow(Base):
    __tablename__ = "catalogue_context"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    part_key: Mapped[str] = mapped_column(String(10))
    part_title: Mapped[str] = mapped_column(String(500))
    section_key: Mapped[str | None] = mapped_column(String(10))
    section_title: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)


class SubmissionRow(Base):
    """One thing received from one unit for one period: a file, a sheet of it, or an API record.

    ``state`` is ``accepted``, ``superseded`` (a newer one from the same unit and period
    exists; history stays) or ``quarantined`` (unusable, with ``reason``). The same content
    from the same source is stored once (``dedupe_key``).
    """

    __tablename__ = "submission"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        Index("ix_submission_period_unit", "period", "unit"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    period: Mapped[str | None] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(200))
    unit_raw: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(100))
    source_ref: Mapped[str] = mapped_column(Text)
    sheet: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    raw_path: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(TS)
    stored_at: Mapped[datetime] = mapped_column(TS)
    state: Mapped[str] = mapped_column(String(20), default="accepted")
    reason: Mapped[str | None] = mapped_column(Text)
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("submission.id"))
    catalogue_version: Mapped[int | None] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raw_rows: Mapped[list[Any]] = mapped_column(JSON, default=list)


class SubmissionItemRow(Base):
    __tablename__ = "submission_item"
    __table_args__ = (Index("ix_submission_item_period_unit", "period", "unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(20))
    progress: Mapped[float | None] = mapped_column(Float)
    narrative: Mapped[str] = mapped_column(Text, default="")
    problems: Mapped[str] = mapped_column(Text, default="")
    next_steps: Mapped[str] = mapped_column(Text, default="")
    coordination: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(100), default="")
    row: Mapped[int | None] = mapped_column(Integer)
    sheet: Mapped[str | None] = mapped_column(String(200))
    match_method: Mapped[str] = mapped_column(String(20), default="id")
    match_score: Mapped[float] = mapped_column(Float, default=100.0)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)


class FindingRow(Base):
    """A finding with its evidence. ``origin`` says which stage wrote it (collect/reconcile),
    so a stage can replace its own findings for a period without touching the others'."""

    __tablename__ = "finding"
    __table_args__ = (
        Index("ix_finding_period_kind", "period", "kind"),
        Index("ix_finding_period_unit_kind", "period", "unit", "kind"),  # the notices' per-unit re-check
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str | None] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(30))
    unit: Mapped[str | None] = mapped_column(String(200), index=True)
    item_id: Mapped[str | None] = mapped_column(String(40))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TS)


class ApiWatermark(Base):
    __tablename__ = "api_watermark"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(TS)


class NoticeRow(Base):
    """The outbox: one row per (unit, period, stage, channel), planned → sending → sent | failed.

    ``state`` may also be ``skipped`` (the unit had nothing missing when re-checked).
    """

    __tablename__ = "notice"
    __table_args__ = (UniqueConstraint("unit", "period", "stage", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(20), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20), default="email")
    state: Mapped[str] = mapped_column(String(20), default="planned")
    message_id: Mapped[str] = mapped_column(String(300))
    recipients: Mapped[list[Any]] = mapped_column(JSON, default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    failed_recipients: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    eml_path: Mapped[str | None] = mapped_column(Text)
    planned_at: Mapped[datetime] = mapped_column(TS)
    sending_at: Mapped[datetime | None] = mapped_column(TS)
    sent_at: Mapped[datetime | None] = mapped_column(TS)


class DocumentRow(Base):
    """A generated document (bulletin file, ledger, template), keyed by what it was made from."""

    __tablename__ = "document"
    __table_args__ = (UniqueConstraint("period", "kind", "unit", "fmt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(30))
    unit: Mapped[str] = mapped_column(String(200), default="")
    fmt: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    inputs_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(TS)
