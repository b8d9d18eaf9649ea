"""`duban catalogue …` and `duban units check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duban.catalogue.diff import diff_catalogues
from duban.domain import Item
from duban.store.catalogue import list_versions
from duban_app.catalogue import import_plan
from duban_app.cli.common import console, fail, print_json, run, table

__all__ = ["catalogue_app", "units_app"]

catalogue_app = typer.Typer(
    help="The task catalogue: import the plan, show it, diff versions.", no_args_is_help=True
)
units_app = typer.Typer(help="The unit directory (config/units.yaml).", no_args_is_help=True)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json")]


def item_json(it: Item) -> dict:
    """The contract of `duban catalogue show --format json` (other tools read it)."""
    return {
        "id": it.id,
        "number": it.number,
        "part": it.part,
        "section": it.section,
        "title": it.title,
        "lead_unit": it.lead_unit,
        "co_units": it.co_units,
        "placeholders": it.placeholders,
    }


@catalogue_app.command("import")
def import_(path: Annotated[Path, typer.Argument(help="Plan document: .txt .md .docx .html")]) -> None:
    """Import a plan document; the same document twice is one version."""
    with run() as ctx:
        res = import_plan(ctx, path)
        r = res.result
        verb = "imported as new" if r.created else "unchanged: already stored as"
        plan = res.catalogue.plan
        console.print(f"{plan.doc_number} {plan.title}: {r.items} items, {verb} version {r.version}")
        for f in res.findings:
            console.print(f"[yellow]warning:[/] {f.message_zh}  ({f.message_en})")


@catalogue_app.command("show")
def show(
    fmt: FormatOpt = "table",
    version: Annotated[int | None, typer.Option(help="a stored version (default: in force)")] = None,
) -> None:
    """Show the catalogue in force (or a version)."""
    with run() as ctx:
        cat, ver = ctx.catalogue(version)
        if fmt == "json":
            print_json([item_json(it) for it in cat.items])
            return
        if fmt != "table":
            raise fail(f"--format must be table or json; got {fmt!r}", 2)
        rows = [
            (
                it.id,
                it.number or "",
                it.title[:40],
                it.lead_unit or "",
                "、".join(it.co_units),
                "、".join(it.placeholders),
            )
            for it in cat.items
        ]
        table(
            f"{cat.plan.doc_number} {cat.plan.title} — version {ver}, {len(cat.items)} items",
            ["id", "序号", "任务", "牵头单位", "配合单位", "占位"],
            rows,
        )


@catalogue_app.command("versions")
def versions() -> None:
    """List the stored catalogue versions."""
    with run() as ctx:
        rows = [
            (v.version, v.items, v.source_name, v.imported_at[:19], "✓" if v.in_force else "")
            for v in list_versions(ctx.store)
        ]
        table("catalogue versions", ["version", "items", "source", "imported", "in force"], rows)


@catalogue_app.command("diff")
def diff(
    old: Annotated[int | None, typer.Option("--from", help="old version (default: the one before)")] = None,
    new: Annotated[int | None, typer.Option("--to", help="new version (default: in force)")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Added, removed and retitled items and changed assignments between two versions."""
    with run() as ctx:
        new_cat, new_ver = ctx.catalogue(new)
        old_ver = old if old is not None else new_ver - 1
        if old_ver < 1:
            raise fail(f"version {new_ver} is the first; nothing to compare with")
        old_cat, _ = ctx.catalogue(old_ver)
        d = diff_catalogues(old_cat, new_cat)
        data = {
            "from": old_ver,
            "to": new_ver,
            "added": [item_json(i) for i in d.added],
            "removed": [item_json(i) for i in d.removed],
            "retitled": [{"id": a.id, "old": a.title, "new": b.title} for a, b in d.retitled],
            "reassigned": [
                {"id": a.id, "old": [x.unit for x in a.assignments], "new": [x.unit for x in b.assignments]}
                for a, b in d.reassigned
            ],
            "revised": [{"id": a.id, "old": a.text, "new": b.text} for a, b in d.revised],
        }
        if fmt == "json":
            print_json(data)
            return
        console.print(f"catalogue diff: version {old_ver} → {new_ver}")
        for line in d.lines() or ["no changes"]:
            console.print(line, markup=False, highlight=False)


@units_app.command("check")
def check() -> None:
    """Resolve every unit named in the catalogue; report unresolved names and units without e-mail."""
    with run() as ctx:
        cat, _ = ctx.catalogue()
        directory = ctx.directory
        rows, problems = [], 0
        seen: set[str] = set()
        for it in cat.items:
            for a in it.assignments:
                if a.raw in seen:
                    continue
                seen.add(a.raw)
                r = directory.resolve(a.raw)
                if r.placeholder:
                    rows.append((a.raw, "placeholder", "", "", "not contacted"))
                elif r.unit is None:
                    problems += 1
                    rows.append((a.raw, r.method, f"{r.score:.0f}", r.suggestion or "", "UNRESOLVED"))
                else:
                    note = "" if r.unit.emails else "no e-mail"
                    problems += 0 if r.unit.emails else 1
                    rows.append((a.raw, r.method, f"{r.score:.0f}", r.unit.short_name, note))
        table("unit names in the catalogue", ["name", "method", "score", "unit", "note"], rows)
        if problems:
            raise fail(f"{problems} unit name(s) need attention", 1)
        console.print(f"[green]all {len(seen)} names resolve[/]")
