"""HTML and xlsx renderings of the bulletin carry the same hand-counted numbers; write_summary's files."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from bs4 import BeautifulSoup

from duban.bulletin import (
    build_bulletin,
    compute_metrics,
    ledger_rows,
    render_charts,
    render_html,
    render_xlsx,
    write_summary,
)
from duban.settings import RatingConfig
from tests.fixtures.bulletin.quarter import EXPECTED, quarter


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("render")
    facts = quarter()
    m = compute_metrics(facts, RatingConfig())
    return facts, build_bulletin(facts, m), render_charts(m, out), out


@pytest.fixture(scope="module")
def soup(built) -> BeautifulSoup:
    _, b, charts, _ = built
    return BeautifulSoup(render_html(b, charts), "html.parser")


def test_html_has_the_hand_counted_numbers(soup: BeautifulSoup) -> None:
    text = soup.get_text()
    for phrase in (
        "已完成2项，占33.3%",
        "牵头单位未报送1项，占16.7%",
        "按时报送率55.6%",
        "本期有3项任务需重点关注",
    ):
        assert phrase in text, phrase
    tables = soup.select("section#units table")
    rows = {
        tr.find_all("td")[1].get_text(): [td.get_text() for td in tr.find_all("td")]
        for tr in tables[0].select("tbody tr")
    }
    for unit, (rank, exp, on_time, late, _longest, missing, invalid, rate, _stars) in EXPECTED[
        "units"
    ].items():
        r = rows[unit]
        assert (r[0], r[2], r[3], r[4], r[6], r[7], r[8]) == (
            str(rank),
            str(exp),
            str(on_time),
            str(late),
            str(missing),
            str(invalid),
            rate,
        )
    assert rows["合计"][2:9] == ["9", "5", "2", "3", "2", "1", "55.6%"]


def test_html_escapes_unit_text_and_embeds_charts(built, soup: BeautifulSoup) -> None:
    _, b, charts, _ = built
    html = render_html(b, charts)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not soup.find("script")
    imgs = soup.find_all("img")
    assert len(imgs) == 2 and all(i["src"].startswith("data:image/png;base64,") for i in imgs)
    assert not re.search(r"""(src|href)=["']https?:""", html)  # self-contained


def test_html_is_printable_and_fits_a_phone(soup: BeautifulSoup) -> None:
    assert soup.find("meta", attrs={"name": "viewport"})
    css = soup.find("style").get_text()
    assert "@media print" in css and "size: A4" in css and "@media (max-width" in css
    assert [s["id"] for s in soup.select("section.attachment")] == ["units", "lagging", "groups"]


def test_xlsx_sheets_and_numbers(built, tmp_path: Path) -> None:
    facts, b, _, _ = built
    path = render_xlsx(b, ledger_rows(facts), tmp_path / "a.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:4] == ["单位报送情况", "滞后事项", "分部分统计", "台账"]
    ws = wb["单位报送情况"]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["排名", "单位", "应报"]
    rows = {r[1]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    for unit, (rank, exp, on_time, late, longest, missing, invalid, rate, _stars) in EXPECTED[
        "units"
    ].items():
        r = rows[unit]
        assert r[0] == rank and r[2:8] == (exp, on_time, late, longest, missing, invalid)
        assert f"{r[8] * 100:.1f}%" == rate  # a real number formatted as a percentage
    total = rows["合计"]
    assert total[2:8] == (
        EXPECTED["expected"],
        EXPECTED["on_time"],
        EXPECTED["late"],
        3,
        EXPECTED["missing"],
        EXPECTED["invalid"],
    )
    assert ws.cell(row=2, column=9).number_format == "0.0%"
    lag = [r[1] for r in wb["滞后事项"].iter_rows(min_row=2, values_only=True)]
    assert lag == ["任务2（完善监测预警）", "任务3（优化掌上办事）", "任务6（加强宣传引导）"]
    groups = {r[0]: r[1:] for r in wb["分部分统计"].iter_rows(min_row=2, values_only=True)}
    assert groups["合计"] == (6, 2, 2, 1, 0, 0, 1)


def test_xlsx_ledger_is_formula_injection_safe(built, tmp_path: Path) -> None:
    facts, b, _, _ = built
    rows = ledger_rows(facts)
    rows.append({"任务编码": "@SUM(A1)", "责任单位": "-2+3", "本期进展情况": "+1"})
    path = render_xlsx(b, rows, tmp_path / "a.xlsx")
    ws = openpyxl.load_workbook(path)["台账"]
    header = [c.value for c in ws[1]]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row]
    assert not any(c.data_type == "f" for c in cells)
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert {'=HYPERLINK("http://evil.example","点我")', "+宣传材料已印发", "@SUM(A1)", "-2+3", "+1"} <= texts
    assert len(header) == len(rows[0]) and header[0] == "任务编码"
    assert ws.max_row == len(rows) + 1


def test_write_summary_writes_every_format(tmp_path: Path) -> None:
    out = write_summary(quarter(), RatingConfig(), tmp_path / "out", pdf=False)
    names = {k: p.name for k, p in out.items()}
    assert names == {
        "docx": "2026Q4_季度通报.docx",
        "html": "2026Q4_季度通报.html",
        "xlsx": "2026Q4_季度通报附表.xlsx",
        "chart_status_by_part": "2026Q4_各部分任务状态.png",
        "chart_unit_timeliness": "2026Q4_单位按时报送率.png",
    }
    assert all(p.is_file() and p.stat().st_size > 1000 for p in out.values())
    assert "按时报送率55.6%" in out["html"].read_text(encoding="utf-8")
