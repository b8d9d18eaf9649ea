"""Round trip: every seed unit's template, filled by a script, read back as .xlsx and as the .xls,
.ods and .csv LibreOffice makes of it — every item accepted with the right unit, period and item."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from duban.reconcile import current_entries, expected_pairs
from duban.settings import REPO_ROOT, Settings
from duban.store.models import FindingRow, SubmissionRow
from duban_app.catalogue import import_plan
from duban_app.collect import collect_files, find_files
from duban_app.context import AppContext
from duban_app.cycle import write_templates
from tests.conftest import need

PERIOD = "2026Q4"
pytestmark = pytest.mark.slow


def _fill(folder: Path) -> None:
    for path in folder.glob("*.xlsx"):
        wb = openpyxl.load_workbook(path)
        ws = wb["填报表"]
        for row in ws.iter_rows(min_row=4):
            if row[0].value:
                row[5].value, row[6].value = "推进中", 60
                row[7].value = f"{row[0].value}：按计划推进，完成阶段目标。"
        wb.save(path)


def _convert(src: Path, fmt: str, out: Path, profile: Path) -> None:
    out.mkdir()
    cmd = [
        "soffice",
        f"-env:UserInstallation=file://{profile}",
        "--headless",
        "--convert-to",
        fmt,
        "--outdir",
        str(out),
        *map(str, sorted(src.glob("*.xlsx"))),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def returned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    need(shutil.which("soffice") is not None, "LibreOffice (soffice) is not installed")
    base = tmp_path_factory.mktemp("roundtrip")
    ctx = AppContext(Settings(home=base / "home"))
    import_plan(ctx, REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt")
    xlsx = base / "xlsx"
    write_templates(ctx, PERIOD, xlsx)
    ctx.close()
    _fill(xlsx)
    folders = {"xlsx": xlsx}
    # CSV as UTF-8: without filter options LibreOffice writes the locale's charset and loses the Chinese.
    targets = {"xls": "xls", "ods": "ods", "csv": "csv:Text - txt - csv (StarCalc):44,34,76,1"}
    for fmt, target in targets.items():
        folders[fmt] = base / fmt
        _convert(xlsx, target, folders[fmt], base / "lo-profile")
    return folders


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "ods", "csv"])
def test_every_item_comes_back_with_its_unit_period_and_item(
    returned: dict[str, Path], tmp_path: Path, fmt: str
):
    ctx = AppContext(Settings(home=tmp_path / "home"))
    try:
        import_plan(ctx, REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt")
        files = find_files(returned[fmt])
        assert len(files) == len(list(returned["xlsx"].glob("*.xlsx")))
        rep = collect_files(ctx, files)  # unit and period from the file itself (or its name, for .csv)
        assert rep.quarantined == 0, rep.as_dict()
        cat, _ = ctx.catalogue()
        expected = {(u, i) for i, u, _r in expected_pairs(cat)}
        got = current_entries(ctx.store, PERIOD)
        assert set(got) == expected
        assert all(e.status == "推进中" and e.progress == 60 for e in got.values())
        assert all(e.narrative.startswith(item_id) for (_u, item_id), e in got.items())
        with ctx.store.session() as s:
            kinds = set(s.scalars(select(FindingRow.kind)))
            states = set(s.scalars(select(SubmissionRow.state)))
        assert kinds == set(), kinds
        assert states == {"accepted"}
    finally:
        ctx.close()
