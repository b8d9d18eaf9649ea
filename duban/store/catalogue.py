"""Catalogue versions in the store.

Importing is keyed by the catalogue's content hash: the same document twice is one version,
an amended one a new version. The version in force is the one imported most recently, so
re-importing an older document brings it back into force without a new number.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from duban import diskcache
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


def _items_query() -> Any:
    i = ItemRow
    return (
        select(
            i.item_id,
            i.number,
            i.part_key,
            i.part_title,
            i.section_key,
            i.section_title,
            i.title,
            i.text,
            i.deadline,
        )
        .where(i.version_id == bindparam("version_id"))
        .order_by(i.seq)
    )


def _context_query() -> Any:
    c = ContextRow
    return (
        select(c.part_key, c.part_title, c.section_key, c.section_title, c.text)
        .where(c.version_id == bindparam("version_id"))
        .order_by(c.seq)
    )


#: A version's rows as plain tuples: (items, assignments, context).
_Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _version_rows(s: Session, cv: CatalogueVersion, cache_dir: Path | None, key: tuple[Any, ...]) -> _Rows:
    """The version's rows, from ``cache_dir`` when kept there (a stored version never changes)."""
    blob = repr(key).encode()
    if cache_dir is not None:
        hit = diskcache.load(cache_dir, "catalogue", blob)
        if hit is not None:
            return hit
    params = {"version_id": cv.id}
    # one object per distinct text: marshal then writes each once and back-references the rest
    same: dict[str, str] = {}
    one = same.setdefault
    # 200,000 assignments at province scale: plain rows, not ORM objects (ten times faster)
    rows: _Rows = (
        [tuple(r) for r in plain_rows(s, "catalogue.items", _items_query, params)],
        [
            (one(item_id, item_id), position, one(unit, unit), one(raw, raw), one(role, role), bool(ph))
            for item_id, position, unit, raw, role, ph in plain_rows(
                s, "catalogue.assignments", _assignments_query, params
            )
        ],
        [tuple(r) for r in plain_rows(s, "catalogue.context", _context_query, params)],
    )
    if cache_dir is not None:
        diskcache.save(cache_dir, "catalogue", blob, rows)
    return rows


_new = object.__new__


def _assignment(unit: str, role: Role, position: int, raw: str, placeholder: bool) -> Assignment:
    """An Assignment without the frozen dataclass's per-field ``object.__setattr__`` (80,000 per load)."""
    a = _new(Assignment)
    a.__dict__.update(unit=unit, role=role, position=position, raw=raw, placeholder=placeholder)
    return a


def _build(plan: PlanRow, source_name: str, rows: _Rows, *, with_units: bool = True) -> Catalogue:
    item_rows, assignment_rows, context_rows = rows
    roles = {str(r): r for r in Role}
    assignments: dict[str, list[Assignment]] = {}
    with no_gc():
        for item_id, position, unit, raw, role, placeholder in assignment_rows if with_units else ():
            a = _assignment(unit, roles.get(role) or Role(role), position, raw, placeholder)
            mine = assignments.get(item_id)
            if mine is None:
                assignments[item_id] = [a]
            else:
                mine.append(a)
    # Item's fields in order: id … text, assignments, deadline (the rows hold all but assignments)
    items = tuple(Item(*r[:8], tuple(assignments.get(r[0], ())), r[8]) for r in item_rows)
    return Catalogue(
        plan=Plan(plan.doc_number, plan.title, plan.issued_on, plan.issuer),
        items=items,
        context=tuple(ContextBlock(*c) for c in context_rows),
        source_name=source_name,
    )


#: (store url, version row id, content hash, with units) → the catalogue: a stored version is immutable.
_LOADED: dict[tuple[str, int, str, bool], Catalogue] = {}


def load_catalogue(
    store: Store,
    *,
    version: int | None = None,
    doc_number: str | None = None,
    cache_dir: Path | None = None,
    with_units: bool = True,
) -> tuple[Catalogue, int]:
    """The catalogue in force (or a given version) and its version number.

    A version is read once per process; with ``cache_dir`` its rows are also kept on disk for
    the next process (``duban.diskcache``). Raises ``LookupError`` with the fix when nothing
    has been imported yet.

    ``with_units=False`` leaves every item's ``assignments`` empty: reading returned files
    matches rows to items by id, number and title and never asks who was assigned what, and
    at 2,000 units the 80,000 assignments are a third of the time a collection waits before
    its first file (a catalogue made so is kept apart from the whole one).
    """
    with store.session() as s:
        cv = _version_row(s, version, doc_number)
        if cv is None:
            what = f"version {version}" if version is not None else "a catalogue"
            raise LookupError(
                f"The store holds no {what}; import the plan first: duban catalogue import PATH"
            )
        key = (store.url, cv.id, cv.content_hash, with_units)
        if key in _LOADED:
            return _LOADED[key], cv.version
        plan = s.get(PlanRow, cv.plan_id)
        assert plan is not None
        # the version's identity: a store rebuilt and re-imported has other import times
        identity = (*key[:3], str(cv.imported_at), cv.plan_id, cv.version)
        with no_gc():
            rows = _version_rows(s, cv, cache_dir, identity)
            cat = _build(plan, cv.source_name, rows, with_units=with_units)
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
