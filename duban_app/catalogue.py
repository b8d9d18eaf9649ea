"""Job: plan document → resolved catalogue → a version in the store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from duban.catalogue.parse import parse_document
from duban.collect.intake import file_sha256
from duban.domain import Catalogue, Finding
from duban.store.catalogue import ImportResult, import_catalogue
from duban.units import resolve_catalogue
from duban_app.context import AppContext

__all__ = ["CatalogueImport", "import_plan"]


@dataclass
class CatalogueImport:
    catalogue: Catalogue
    result: ImportResult
    findings: list[Finding]


def import_plan(ctx: AppContext, path: Path) -> CatalogueImport:
    """Parse, resolve unit names against the directory, and store (idempotent by content)."""
    parsed = parse_document(path)
    resolved, findings = resolve_catalogue(parsed, ctx.directory)
    result = import_catalogue(ctx.store, resolved, source_sha256=file_sha256(path))
    return CatalogueImport(resolved, result, findings)
