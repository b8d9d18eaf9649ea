"""Catalogue versions in the store.

Importing is keyed by the catalogue's content hash: the same document twice is one version,
an amended one a new version. The version in force is the one imported most recently, so
re-importing an older document brings it back into force without a new number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from duban.domain import Assignment, Catalogue, ContextBlock, Item, Plan, Role
from duban.errors import CatalogueError
from duban.store.db import Store, now
from duban.store.fetch import no_gc, plain_rows
from duban.store.models import AssignmentRow, CatalogueVersion, ContextRow, ItemRow, PlanRow

__all__ = ["ImportResult", "VersionInfo", "import_catalogue", "list_versions", "load_catalogue"]


@dataclass(frozen=True)
class ImportResult:
    version: int
    created: bool
    items: int
    content_hash: str


@dataclass(frozen=True)
class VersionInfo:
    version: int
    content_hash: str
    source_name: str
    imported_at: str
    items: int
    in_force: bool


def _plan_row(s: Session, plan: Plan) -> PlanRow:
    row = s.scalar(select(PlanRow).where(PlanRow.doc_number == plan.doc_number))
    if row is None:
        row = PlanRow(
            doc_number=plan.doc_number, title=plan.title, issued_on=plan.issued_on, issuer=plan.issuer
        )
        s.add(row)
        s.flush()
    else:
        row.title, row.issued_on, row.issuer = plan.title, plan.issued_on, plan.issuer
    return row


def import_catalogue(store: Store, catalogue: Catalogue, *, source_sha256: str) -> ImportResult:
    """Store ``catalogue`` as a version of its plan, or find the identical version already stored."""
    if not catalogue.items:
        raise CatalogueError(catalogue.source_name or "<catalogue>", "no items to import")
    digest = catalogue.content_hash()
    with store.session() as s:
        plan = _plan_row(s, catalogue.plan)
        existing = s.scalar(
            select(CatalogueVersion).where(
                CatalogueVersion.plan_id == plan.id, CatalogueVersion.content_hash == digest
            )
        )
        if existing is not None:
            latest = s.scalar(
                select(CatalogueVersion)
                .where(CatalogueVersion.plan_id == plan.id)
                .order_by(CatalogueVersion.imported_at.desc(), CatalogueVersion.id.desc())
                .limit(1)
            )
            if latest is not None and latest.id != existing.id:
                existing.imported_at = now()
            return ImportResult(existing.version, False, len(catalogue.items), digest)
        number = (
            s.scalar(select(func.max(CatalogueVersion.version)).where(CatalogueVersion.plan_id == plan.id))
            or 0
        ) + 1
        cv = CatalogueVersion(
            plan_id=plan.id,
            version=number,
            content_hash=digest,
            source_name=catalogue.source_name,
            source_sha256=source_sha256,
            imported_at=now(),
        )
        s.add(cv)
        s.flush()
        s.execute(
            ItemRow.__table__.insert(),
            [
                {
                    "version_id": cv.id,
                    "item_id": it.id,
                    "seq": seq,
                    "number": it.number,
                    "part_key": it.part_key,
                    "part_title": it.part_title,
                    "section_key": it.section_key,
                    "section_title": it.section_title,
                    "title": it.title,
                    "text": it.text,
                    "deadline": it.deadline,
                }
                for seq, it in enumerate(catalogue.items)
            ],
        )
        s.execute(
            AssignmentRow.__table__.insert(),
            [
                {
                    "version_id": cv.id,
                    "item_id": it.id,
                    "position": a.position,
                    "unit": a.unit,
                    "raw": a.raw,
                    "role": str(a.role),
                    "placeholder": a.placeholder,
                }
                for it in catalogue.items
                for a in it.assignments
            ],
        )
        if catalogue.context:
            s.execute(
                ContextRow.__table__.insert(),
                [
                    {
                        "version_id": cv.id,
                        "seq": seq,
                        "part_key": c.part_key,
                        "part_title": c.part_title,
                        "section_key": c.section_key,
                        "section_title": c.section_title,
                        "text": c.text,
                    }
                    for seq, c in enumerate(catalogue.context)
                ],
            )
        return ImportResult(number, True, len(catalogue.items), digest)


def _version_row(s: Session, version: int | None, doc_number: str | None) -> CatalogueVersion | None:
    q = select(CatalogueVersion)
    if doc_number is not None:
        q = q.join(PlanRow, PlanRow.id == CatalogueVersion.plan_id).where(PlanRow.doc_number == doc_number)
    if version is not None:
        q = q.where(CatalogueVersion.version == version)
    q = q.order_by(CatalogueVersion.imported_at.desc(), CatalogueVersion.id.desc()).limit(1)
    return s.scalar(q)


def _assignments_query() -> Any:
    a = AssignmentRow
    return (
        select(a.item_id, a.position, a.unit, a.raw, a.role, a.placeholder)
        .where(a.version_id == bindparam("version_id"))
        .order_by(a.item_id, a.position)
    )


#: (store url, version row id, content hash) → the catalogue: a stored version is immutable.
_LOADED: dict[tuple[str, int, str], Catalogue] = {}


def load_catalogue(
    store: Store, *, version: int | None = None, doc_number: str | None = None
) -> tuple[Catalogue, int]:
    """The catalogue in force (or a given version) and its version number.

    Raises ``LookupError`` with the fix when nothing has been imported yet.
    """
    with store.session() as s:
        cv = _version_row(s, version, doc_number)
        if cv is None:
            what = f"version {version}" if version is not None else "a catalogue"
            raise LookupError(
                f"The store holds no {what}; import the plan first: duban catalogue import PATH"
            )
        key = (store.url, cv.id, cv.content_hash)
        if key in _LOADED:
            return _LOADED[key], cv.version
        plan = s.get(PlanRow, cv.plan_id)
        assert plan is not None
        # 200,000 assignments at province scale: plain rows, not ORM objects (ten times faster)
        rows = plain_rows(s, "catalogue.assignments", _assignments_query, {"version_id": cv.id})
        roles = {str(r): r for r in Role}
        assignments: dict[str, list[Assignment]] = {}
        with no_gc():
            for item_id, position, unit, raw, role, placeholder in rows:
                a = Assignment(
                    unit=unit,
                    role=roles.get(role) or Role(role),
                    position=position,
                    raw=raw,
                    placeholder=bool(placeholder),
                )
                mine = assignments.get(item_id)
                if mine is None:
                    assignments[item_id] = [a]
                else:
                    mine.append(a)
        items = tuple(
            Item(
                id=r.item_id,
                number=r.number,
                part_key=r.part_key,
                part_title=r.part_title,
                section_key=r.section_key,
                section_title=r.section_title,
                title=r.title,
                text=r.text,
                assignments=tuple(assignments.get(r.item_id, ())),
                deadline=r.deadline,
            )
            for r in s.scalars(select(ItemRow).where(ItemRow.version_id == cv.id).order_by(ItemRow.seq))
        )
        context = tuple(
            ContextBlock(c.part_key, c.part_title, c.section_key, c.section_title, c.text)
            for c in s.scalars(
                select(ContextRow).where(ContextRow.version_id == cv.id).order_by(ContextRow.seq)
            )
        )
        cat = Catalogue(
            plan=Plan(plan.doc_number, plan.title, plan.issued_on, plan.issuer),
            items=items,
            context=context,
            source_name=cv.source_name,
        )
        if len(_LOADED) >= 8:
            _LOADED.clear()
        _LOADED[key] = cat
        return cat, cv.version


def list_versions(store: Store) -> list[VersionInfo]:
    with store.session() as s:
        rows = list(s.scalars(select(CatalogueVersion).order_by(CatalogueVersion.version)))
        if not rows:
            return []
        in_force = max(rows, key=lambda r: (r.imported_at, r.id)).id
        counts = dict(
            s.execute(select(ItemRow.version_id, func.count()).group_by(ItemRow.version_id)).tuples().all()
        )
        return [
            VersionInfo(
                r.version,
                r.content_hash,
                r.source_name,
                r.imported_at.isoformat(),
                counts.get(r.id, 0),
                r.id == in_force,
            )
            for r in rows
        ]
