"""The per-unit template: only the unit's rows, drop-downs, hidden metadata, no formulas; it reads back."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from duban import units
from duban.collect.templates import (
    HEADERS,
    TEMPLATE_VERSION,
    template_bytes,
    template_filename,
    unit_items,
    write_unit_template,
)
from duban.domain import Assignment, Catalogue, Item, Plan, ReportedItem, Role
from duban.periods import parse_period
from duban.settings import Settings


def Unit(short_name: str, full_name: str) -> units.Unit:
    return units.Unit(short_name, full_name, (), ())


def _item(
    item_id: str, number: int | None, title: str, units: list[str], placeholder: str | None = None
) -> Item:
    assignments = [
        Assignment(unit=u, role=Role.LEAD if i == 0 else Role.CO, position=i, raw=u)
        for i, u in enumerate(units)
    ]
    if placeholder:
        assignments.append(Assignment(placeholder, Role.CO, len(units), placeholder, placeholder=True))
    return Item(item_id, number, "二", "部分", None, None, title, title + "。", tuple(assignments))


CAT = Catalogue(
    Plan("丽政发〔2022〕29号", "丽水市深化数字政府建设实施方案", date(2022, 11, 23)),
    (
        _item("T01", 1, "建立经济社会发展态势全面感知体系", ["市发改委", "市大数据局"]),
        _item("T02", 2, "完善经济高质量发展监测预警调度机制", ["市发改委"]),
        _item("T03", 3, "提升经济政策精准制定及统筹协调能力", ["市经信局", "市发改委"], "市级有关单位"),
        _item("T08", 8, "提升社会治安防控能力", ["市公安局"]),
        _item("T40", None, "加强组织领导", ["市数字政府办"], "市级有关单位"),
    ),
)
FGW = Unit("市发改委", "丽水市发展和改革委员会")


@pytest.fixture
def period(settings: Settings):
    return parse_period("2026Q4", settings)


def _open(data: bytes, tmp_path: Path) -> tuple[Path, openpyxl.Workbook]:
    path = tmp_path / "t.xlsx"
    path.write_bytes(data)
    return path, openpyxl.load_workbook(path)


def test_unit_items_in_catalogue_order_with_roles() -> None:
    assert [(i.id, r) for i, r in unit_items(CAT, "市发改委")] == [
        ("T01", Role.LEAD),
        ("T02", Role.LEAD),
        ("T03", Role.CO),
    ]
    assert unit_items(CAT, "市级有关单位") == []  # a placeholder is never a unit


def test_layout_only_the_units_items_and_roles(tmp_path: Path, period) -> None:
    _, wb = _open(template_bytes(catalogue=CAT, unit=FGW, period=period, catalogue_version=3), tmp_path)
    assert wb.sheetnames == ["填报表", "_duban"]
    ws = wb["填报表"]
    assert ws.sheet_state == "visible"
    assert ws["A1"].value == "丽水市深化数字政府建设实施方案 2026年第四季度工作进展报表"
    assert ws["A2"].value == "填报单位：市发改委　　报送期间：2026Q4　　截止日期：2027-01-08"
    assert tuple(c.value for c in ws[3]) == HEADERS
    assert HEADERS[:7] == ("任务编码", "序号", "工作任务", "角色", "牵头单位", "完成状态", "完成进度(%)")
    rows = [tuple(c.value for c in r[:5]) for r in ws.iter_rows(min_row=4) if r[0].value]
    assert rows == [
        ("T01", 1, "建立经济社会发展态势全面感知体系", "牵头", "市发改委"),
        ("T02", 2, "完善经济高质量发展监测预警调度机制", "牵头", "市发改委"),
        ("T03", 3, "提升经济政策精准制定及统筹协调能力", "配合", "市经信局"),
    ]
    assert all(ws.cell(r, c).value is None for r in range(4, 7) for c in range(6, 14))  # nothing pre-filled
    assert ws.freeze_panes == "D4"
    assert ws["C4"].fill.fgColor.rgb.endswith("EDEDED")  # read-only-looking task columns
    assert ws["H4"].alignment.wrap_text


def test_drop_down_and_progress_validation(tmp_path: Path, period) -> None:
    _, wb = _open(template_bytes(catalogue=CAT, unit=FGW, period=period, catalogue_version=3), tmp_path)
    dvs = {dv.type: dv for dv in wb["填报表"].data_validations.dataValidation}
    status = dvs["list"]
    assert str(status.sqref) == "F4:F6"
    assert status.formula1 == '"未启动,推进中,滞后,暂停,已完成"'
    progress = dvs["decimal"]
    assert str(progress.sqref) == "G4:G6"
    assert progress.operator in (None, "between")  # "between" is the OOXML default
    assert (progress.formula1, progress.formula2) == ("0", "100")


def test_hidden_metadata(tmp_path: Path, period) -> None:
    _, wb = _open(template_bytes(catalogue=CAT, unit=FGW, period=period, catalogue_version=3), tmp_path)
    meta_ws = wb["_duban"]
    assert meta_ws.sheet_state == "hidden"
    meta = {r[0].value: r[1].value for r in meta_ws.iter_rows(max_col=2)}
    assert meta == {
        "duban_template": "1",
        "unit": "市发改委",
        "unit_name": "丽水市发展和改革委员会",
        "period": "2026Q4",
        "catalogue_version": "3",
        "template_version": TEMPLATE_VERSION,
        "plan": "丽政发〔2022〕29号",
    }
    assert all(r[1].data_type == "s" for r in meta_ws.iter_rows(max_col=2))


def test_prefill_from_previous_period_and_no_formulas(tmp_path: Path, period) -> None:
    previous = {
        "T02": ReportedItem(
            "T02",
            "市发改委",
            "推进中",
            60.0,
            narrative="=SUM(A1)",
            problems="+1 资金缺口",
            next_steps="-继续推进",
            coordination="@市财政局",
            reporter="张三",
            phone="0578-1234567",
        ),
        "T01": ReportedItem("T01", "市发改委", "已完成", 100.0, narrative="已建成"),
        "T99": ReportedItem("T99", "市发改委", "推进中", 10.0, narrative="不在清单中"),
    }
    path, wb = _open(
        template_bytes(catalogue=CAT, unit=FGW, period=period, catalogue_version=3, previous=previous),
        tmp_path,
    )
    ws = wb["填报表"]
    assert [ws.cell(4, c).value for c in (6, 7, 8)] == ["已完成", 100, "已建成"]
    row5 = [ws.cell(5, c).value for c in range(6, 14)]
    assert row5 == ["推进中", 60, "=SUM(A1)", "+1 资金缺口", "-继续推进", "@市财政局", "张三", "0578-1234567"]
    for c in range(8, 12):
        assert ws.cell(5, c).data_type == "s"
        assert ws.cell(5, c).quotePrefix  # stays text when the unit edits the cell
    assert ws.cell(6, 8).value is None  # T03 had no previous entry
    assert "不在清单中" not in str([c.value for r in ws.iter_rows() for c in r])
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name).decode()
                assert "<f>" not in xml and "<f " not in xml, name


def test_title_override_filename_and_determinism(tmp_path: Path, period) -> None:
    kw = {"catalogue": CAT, "unit": FGW, "period": period, "catalogue_version": 3}
    assert template_bytes(**kw) == template_bytes(**kw)
    _, wb = _open(template_bytes(**kw, plan_title="数字政府建设"), tmp_path)
    assert wb["填报表"]["A1"].value == "数字政府建设 2026年第四季度工作进展报表"
    assert template_filename(FGW, period) == "2026Q4_市发改委_工作进展报表.xlsx"
    assert (
        template_filename(Unit("市教育局/体育局", "x"), period) == "2026Q4_市教育局_体育局_工作进展报表.xlsx"
    )
    assert template_filename(Unit("../..", "x"), period) == "2026Q4_unit_工作进展报表.xlsx"


def test_write_unit_template_for_many_units(tmp_path: Path, period) -> None:
    units = [Unit(f"市单位{i:02d}", f"丽水市单位{i:02d}") for i in range(45)]
    items = tuple(
        _item(f"T{i:02d}", i, f"任务{i}", [units[i].short_name, units[(i + 1) % 45].short_name])
        for i in range(45)
    )
    cat = Catalogue(CAT.plan, items)
    out = tmp_path / "out"
    paths = [
        write_unit_template(
            out / template_filename(u, period), catalogue=cat, unit=u, period=period, catalogue_version=1
        )
        for u in units
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths) and len(paths) == 45
    ws = openpyxl.load_workbook(paths[7])["填报表"]
    assert [(ws.cell(r, 1).value, ws.cell(r, 4).value) for r in (4, 5)] == [("T06", "配合"), ("T07", "牵头")]


def test_unit_without_items_gets_a_note(tmp_path: Path, period) -> None:
    _, wb = _open(
        template_bytes(
            catalogue=CAT, unit=Unit("市统计局", "丽水市统计局"), period=period, catalogue_version=1
        ),
        tmp_path,
    )
    assert "没有需要本单位报送的任务" in wb["填报表"]["A4"].value


def test_filled_template_reads_back_identifies_itself_and_validates(tmp_path: Path, period) -> None:
    """The contract with connectors/spreadsheets: write → a unit fills it in Excel → read → check."""
    from connectors.spreadsheets import read_tables
    from duban.collect.identify import identify
    from duban.collect.validate import validate_table

    previous = {"T02": ReportedItem("T02", "市发改委", "推进中", 60.0, narrative="=SUM(A1)")}
    path = write_unit_template(
        tmp_path / template_filename(FGW, period),
        catalogue=CAT,
        unit=FGW,
        period=period,
        catalogue_version=3,
        previous=previous,
    )
    wb = openpyxl.load_workbook(path)
    ws = wb["填报表"]
    ws["F4"], ws["G4"], ws["H4"] = "正在推进", 0.8, "完成方案编制"  # 80% typed in a percent cell
    ws["F6"], ws["G6"] = "已完成", "90%"
    filled = tmp_path / "returned.xlsx"
    wb.save(filled)

    (table,) = read_tables(filled)
    assert table.meta["unit"] == "市发改委" and table.meta["catalogue_version"] == "3"
    directory = units.UnitDirectory([units.Unit("市发改委", "丽水市发展和改革委员会", (), ())])
    ident = identify(table, directory, filename=filled.name, cli_period="2026Q4")
    assert (ident.unit, ident.unit_method, ident.period, ident.period_method) == (
        "市发改委",
        "meta",
        "2026Q4",
        "meta",
    )
    items, findings = validate_table(table, CAT, ident.unit, ident.period)
    got = {i.item_id: (i.status, i.progress, i.narrative, i.match_method) for i in items}
    assert got == {
        "T01": ("推进中", 80.0, "完成方案编制", "id"),
        "T02": ("推进中", 60.0, "=SUM(A1)", "id"),  # pre-filled and returned unchanged
        "T03": ("已完成", 90.0, "", "id"),
    }
    assert [(f.evidence["row"], f.evidence["field"]) for f in findings] == [(6, "progress")]
