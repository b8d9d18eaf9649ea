"""What "consistent" means after a crash, a fault or a rerun, checked in SQL.

Two kinds of check. ``integrity_problems`` looks at one store on its own: no item or finding
pointing at a missing submission, no accepted submission that lost its rows half way, one
accepted file per (unit, period), every raw file kept, notices in a legal state.
``snapshot``/``compare`` hold a store up against a reference run that was never disturbed:
every submission, item and finding keyed by what it *is* (file, unit, item), not by the ids
it happened to get, so "nothing lost, nothing duplicated" is a Counter difference.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text

from duban.store.db import Store

__all__ = ["Snapshot", "compare", "integrity_problems", "notice_states", "snapshot"]

Snapshot = dict[str, Counter[tuple[Any, ...]]]

_ORPHAN_ITEMS = """
select count(*) from submission_item si
where not exists (select 1 from submission s where s.id = si.submission_id)"""
_ORPHAN_FINDINGS = """
select count(*) from finding f
where f.submission_id is not null and not exists (select 1 from submission s where s.id = f.submission_id)"""
_DANGLING_SUPERSEDED = """
select count(*) from submission s
where s.superseded_by is not null and not exists (select 1 from submission w where w.id = s.superseded_by)"""
_TWO_ACCEPTED = """
select unit, period, count(*) from submission
where state = 'accepted' and source = 'file'
group by unit, period having count(*) > 1"""
_ITEMS_ON_QUARANTINED = """
select count(*) from submission_item si join submission s on s.id = si.submission_id
where s.state = 'quarantined'"""
_BARE_ACCEPTED = """
select s.id, s.source_ref, s.raw_rows, s.meta from submission s
where s.state = 'accepted'
  and not exists (select 1 from submission_item si where si.submission_id = s.id)
  and not exists (select 1 from finding f where f.submission_id = s.id)"""

_SUBMISSIONS = "select source, source_ref, sheet, state, unit, period, sha256, superseded_by from submission"
_ITEMS = "select submission_id, unit, item_id, status, progress, valid, narrative from submission_item"


def _json(value: Any) -> Any:
    if isinstance(value, str):  # SQLite hands JSON back as text through a raw query
        import json

        return json.loads(value or "null")
    return value


def _rows_of(raw: Any, meta: Any) -> int:
    """Rows received: an API record's payload, or the count a file's reader left in ``meta``."""
    return len(_json(raw) or []) or int((_json(meta) or {}).get("rows") or 0)


def integrity_problems(store: Store, *, notices_final: bool = False, raw_files: bool = True) -> list[str]:
    """Every broken promise visible in ``store`` alone (empty list: consistent)."""
    out: list[str] = []
    with store.engine.connect() as c:
        for label, sql in (
            ("submission_item rows whose submission does not exist", _ORPHAN_ITEMS),
            ("findings whose submission does not exist", _ORPHAN_FINDINGS),
            ("submissions superseded by a submission that does not exist", _DANGLING_SUPERSEDED),
            ("items stored on a quarantined submission", _ITEMS_ON_QUARANTINED),
        ):
            n = c.execute(text(sql)).scalar_one()
            if n:
                out.append(f"{n} {label}")
        for unit, period, n in c.execute(text(_TWO_ACCEPTED)):
            out.append(f"{n} accepted file submissions for {unit} {period} (one expected)")
        for sid, ref, raw, meta in c.execute(text(_BARE_ACCEPTED)):
            if _rows_of(raw, meta):
                out.append(
                    f"half submission {sid} ({Path(ref).name}): rows received, no items and no findings"
                )
        states = Counter(s for (s,) in c.execute(text("select state from notice")))
        in_flight = states.get("sending", 0)
        if notices_final:
            bad = {s: n for s, n in states.items() if s not in ("sent", "skipped")}
            if bad:
                out.append(f"notices not in a final state after the rerun: {bad}")
        elif in_flight > 1:
            out.append(f"{in_flight} notices in 'sending' at once (at most one may be in flight)")
        if raw_files:
            for sid, path, sha in c.execute(
                text("select id, raw_path, sha256 from submission where raw_path is not null")
            ):
                p = Path(path)
                if not p.is_file():
                    out.append(f"submission {sid}: raw file {p.name} is missing")
                elif hashlib.sha256(p.read_bytes()).hexdigest() != sha:
                    out.append(f"submission {sid}: raw file {p.name} does not match its sha256")
    return out


def notice_states(store: Store) -> dict[str, str]:
    with store.engine.connect() as c:
        return {u: s for u, s in c.execute(text("select unit, state from notice"))}


def snapshot(store: Store) -> Snapshot:
    """The store's content keyed by meaning (file, sheet, unit, item), without database ids."""
    with store.engine.connect() as c:
        refs = {
            sid: (src, ref, sheet)
            for sid, src, ref, sheet in c.execute(
                text("select id, source, source_ref, sheet from submission")
            )
        }
        subs: Counter[tuple[Any, ...]] = Counter(
            (src, ref, sheet, state, unit, period, sha, refs.get(sup))
            for src, ref, sheet, state, unit, period, sha, sup in c.execute(text(_SUBMISSIONS))
        )
        items: Counter[tuple[Any, ...]] = Counter(
            (
                refs.get(sid, ("missing submission", sid)),
                unit,
                item,
                status,
                None if prog is None else round(float(prog), 4),
                bool(valid),
                hashlib.sha1((narr or "").encode()).hexdigest()[:10],
            )
            for sid, unit, item, status, prog, valid, narr in c.execute(text(_ITEMS))
        )
        findings: Counter[tuple[Any, ...]] = Counter(
            (origin, kind, unit, item, refs.get(sid), msg if origin == "reconcile" else None)
            for origin, kind, unit, item, sid, msg in c.execute(
                text("select origin, kind, unit, item_id, submission_id, message_en from finding")
            )
        )
        marks: Counter[tuple[Any, ...]] = Counter(
            tuple(r) for r in c.execute(text("select source, value from api_watermark"))
        )
    return {"submissions": subs, "items": items, "findings": findings, "watermarks": marks}


def compare(reference: Snapshot, got: Snapshot) -> tuple[int, int, list[str]]:
    """(lost, duplicated, descriptions) of ``got`` against ``reference``."""
    lost = dup = 0
    notes: list[str] = []
    for table, ref in reference.items():
        have = got.get(table, Counter())
        missing = ref - have
        extra = have - ref
        lost += sum(missing.values())
        dup += sum(extra.values())
        for key, n in list(missing.items())[:3]:
            notes.append(f"{table}: {n} missing {_short(key)}")
        for key, n in list(extra.items())[:3]:
            notes.append(f"{table}: {n} extra {_short(key)}")
    return lost, dup, notes


def _short(key: tuple[Any, ...]) -> str:
    return (
        "(" + ", ".join(Path(v).name if isinstance(v, str) and "/" in v else repr(v) for v in key)[:200] + ")"
    )
