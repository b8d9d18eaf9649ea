"""The core package imports neither Prefect nor connectors; secrets are unwrapped only at the edge."""

from __future__ import annotations

import ast
from pathlib import Path

from duban.settings import REPO_ROOT

CORE = REPO_ROOT / "duban"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_neither_prefect_nor_connectors_nor_the_app():
    offenders = {
        str(p.relative_to(REPO_ROOT)): sorted(
            _imports(p) & {"prefect", "prefect_dask", "prefect_email", "connectors", "duban_app", "flows"}
        )
        for p in CORE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_is_named_like_a_standard_library_module_it_would_shadow():
    for folder in ("duban", "duban_app", "connectors", "flows"):
        for p in (REPO_ROOT / folder).rglob("*.py"):
            assert (
                p.stem not in {"email", "calendar", "csv", "logging", "secrets", "typing"}
                or "flows" in p.parts
            ), p
