"""The bulletin with many units: 附件1 and the problem sentences stay short, the xlsx keeps every unit.

Built on the hand-made quarter plus generated co-operating units whose fate follows their
number (missing, late, on time, invalid), so who needs attention is known without counting.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from bs4 import BeautifulSoup
from docx import Document

from duban.bulletin import (
    AssignmentFact,
    PeriodFacts,
    build_bulletin,
    compute_metrics,
    ledger_rows,
    ledger_table,
    render_docx,
    render_html,
    render_xlsx,
)
from duban.bulletin.metrics import Metrics
from duban.bulletin.sections import UNIT_ROWS_MAX
from duban.settings import BulletinConfig, RatingConfig
from tests.fixtures.bulletin.quarter import CST, quarter

ITEMS = ("T01", "T02", "T03", "T04", "T05", "T06")


def _unit(i: int) -> str:
    return f"区县单位{i:03d}"


def many_units(n: int) -> PeriodFacts:
    """The quarter plus ``n`` units, each 配合 on two items: i % 4 == 0 missing, 1 late (i % 7 + 1
    working days), 2 on time, 3 on time with one invalid value."""
    q = quarter(with_previous=False)
    extra = []
    for i in range(n):
        fate = i % 4
        for item in (ITEMS[i % 6], ITEMS[(i + 1) % 6]):
            submitted = None if fate == 0 else datetime(2027, 1, 6 if fate != 1 else 12, 10, 0, tzinfo=CST)
            extra.append(
                AssignmentFact(
                    item,
                    _unit(i),
                    "配合",
                    None if fate == 0 else "推进中",
                    None if fate == 0 else 50.0,
                    "" if fate == 0 else "配合推进",
                    "",
                    "",
                    submitted,
                    i % 7 + 1 if fate == 1 else None,
                    1 if fate == 3 else 0,
                    False,
                    False,
                )
            )
    return replace(q, assignments=[*q.assignments, *extra])


def _flagged(m: Metrics) -> list[str]:
    return [u.unit for u in reversed(m.units) if u.missing or u.late or u.invalid]


def test_default_cap_matches_the_settings_default() -> None:
    assert BulletinConfig().docx_unit_rows_max == UNIT_ROWS_MAX


def test_few_units_keep_the_whole_table() -> None:
    facts = many_units(8)  # 12 units
    m = compute_metrics(facts, RatingConfig())
    b = build_bulletin(facts, m, unit_rows_max=12)
    a = b.attachment("units")
    assert a.title == "各单位报送情况表"
    assert [r[1] for r in b.table("units").rows] == [u.unit for u in m.units] + ["合计"]
    assert b.sheet_table("units") == b.table("units")


def test_many_units_list_the_worst_flagged_units_with_a_note() -> None:
    facts = many_units(40)  # 44 units
    m = compute_metrics(facts, RatingConfig())
    b = build_bulletin(facts, m, unit_rows_max=8)
    flagged = _flagged(m)
    assert len(m.units) == 44 and len(flagged) > 8
    a = b.attachment("units")
    assert a.title == "需关注单位报送情况表"
    table = b.table("units")
    listed = [r[1] for r in table.rows]
    assert listed == flagged[:8]  # worst first: the lowest ranks; no total (it is in the text)
    ranks = [r[0] for r in table.rows]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == m.units[-1].rank
    assert not table.bold_rows
    note = next(p.text for p in a.blocks if hasattr(p, "runs"))
    assert f"本期共有44个责任单位，其中{len(flagged)}个单位存在未报送、迟报或不合格情况" in note
    assert "排名最后的8个单位" in note and "“单位报送情况”工作表" in note and "“一、总体情况”" in note
    overview = " ".join(p.text for p in b.paragraphs())
    assert "报送情况需关注的单位见附件1" in overview
    assert f"44个责任单位应报送{m.expected}项，按时报送{m.on_time}项" in overview  # the totals
    assert "附件：1.需关注单位报送情况表" in overview
    full = b.sheet_table("units")
    assert [r[1] for r in full.rows] == [u.unit for u in m.units] + ["合计"]


def test_every_flagged_unit_is_listed_when_they_fit() -> None:
    facts = many_units(40)
    m = compute_metrics(facts, RatingConfig())
    flagged = _flagged(m)
    b = build_bulletin(facts, m, unit_rows_max=len(flagged) + 1)
    assert [r[1] for r in b.table("units").rows] == flagged
    note = next(p.text for p in b.attachment("units").blocks if hasattr(p, "runs"))
    assert "下表按排名由后往前列出这些单位" in note


def test_documents_show_the_short_list_and_the_xlsx_every_unit(tmp_path: Path) -> None:
    facts = many_units(40)
    m = compute_metrics(facts, RatingConfig())
    b = build_bulletin(facts, m, unit_rows_max=8)
    doc = Document(str(render_docx(b, tmp_path / "b.docx")))
    docx_units = [r.cells[1].text for r in doc.tables[0].rows[1:]]
    assert docx_units == _flagged(m)[:8]
    soup = BeautifulSoup(render_html(b), "html.parser")
    html_units = [tr.find_all("td")[1].get_text() for tr in soup.select("section#units table tbody tr")]
    assert html_units == docx_units
    ws = openpyxl.load_workbook(render_xlsx(b, ledger_table(facts), tmp_path / "b.xlsx"))["单位报送情况"]
    xlsx_units = [r[1] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert xlsx_units == [u.unit for u in m.units] + ["合计"]


def test_problem_sentences_name_the_worst_twenty_units() -> None:
    facts = many_units(100)
    m = compute_metrics(facts, RatingConfig())
    text = " ".join(p.text for p in build_bulletin(facts, m).paragraphs())
    late = [u for u in m.units if u.late]
    missing = [u for u in m.units if u.missing]
    assert len(late) > 20 and len(missing) > 20
    assert f"迟报的单位{len(late)}个，逾期最长的20个：" in text
    longest = max(late, key=lambda u: (u.late_days_max, u.late))
    assert f"逾期最长的20个：{longest.unit}（" in text
    assert f"截至统计日仍未报送的单位{len(missing)}个，未报送最多的20个：" in text
    bad = [u for u in m.units if u.invalid]
    assert f"{len(bad)}个单位报送内容存在无效数值" in text
    sentence = text.split("逾期最长的20个：")[1].split("；")[0]
    assert sentence.count("（迟报") == 20 and sentence.endswith("等")


def test_ledger_rows_and_table_agree() -> None:
    facts = quarter()
    table = ledger_table(facts)
    rows = ledger_rows(facts)
    assert [tuple(r.values()) for r in rows] == [tuple(r) for r in table.rows]
    assert list(rows[0]) == list(table.header)
    assert rows[0]["工作任务"] == "建设数据底座" and rows[0]["单位全称"] == "丽水市甲管理局"


def test_many_units_all_on_time_get_a_sentence_and_no_table(tmp_path: Path) -> None:
    facts = many_units(12)
    when = datetime(2027, 1, 6, tzinfo=CST)
    on_time = [
        replace(
            f, submitted_at=f.submitted_at or when, status=f.status or "推进中", late_days=None, invalid=0
        )
        for f in facts.assignments
    ]
    facts = replace(facts, assignments=[replace(f, invalid=0) for f in on_time])
    m = compute_metrics(facts, RatingConfig())
    assert not _flagged(m)
    b = build_bulletin(facts, m, unit_rows_max=5)
    a = b.attachment("units")
    assert [type(blk).__name__ for blk in a.blocks] == ["Figure", "Paragraph"]
    assert "本期16个责任单位均按时报送，报送数据均通过校验" in a.blocks[1].text
    assert len(b.sheet_table("units").rows) == 17  # the spreadsheet still lists all, and the total
    doc = Document(str(render_docx(b, tmp_path / "b.docx")))
    assert len(doc.tables) == 2  # 附件2 and 附件3 only


@pytest.mark.parametrize("cap", [1, 3])
def test_cap_counts_units_not_rows(cap: int) -> None:
    facts = many_units(4)  # 8 units
    m = compute_metrics(facts, RatingConfig())
    b = build_bulletin(facts, m, unit_rows_max=cap)
    assert len(b.table("units").rows) == cap
