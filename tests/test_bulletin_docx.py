"""The bulletin's docx: GB/T 9704 layout on real Word styles, and the hand-counted numbers in its text."""

from __future__ import annotations

from pathlib import Path

import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Pt

from duban.bulletin import build_bulletin, compute_metrics, render_charts, render_docx
from duban.settings import RatingConfig
from tests.fixtures.bulletin.quarter import EXPECTED, quarter


@pytest.fixture(scope="module")
def docx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docx")
    facts = quarter()
    m = compute_metrics(facts, RatingConfig())
    charts = render_charts(m, out)
    return render_docx(build_bulletin(facts, m), out / "2026Q4_季度通报.docx", charts)


@pytest.fixture(scope="module")
def doc(docx_path: Path):
    return Document(str(docx_path))


def _east_asia(style) -> str | None:
    return style.element.rPr.rFonts.get(qn("w:eastAsia"))


def _all_text(doc) -> str:
    parts = [p.text for p in doc.paragraphs]
    for t in doc.tables:
        parts += [c.text for row in t.rows for c in row.cells]
    return "\n".join(parts)


def test_page_is_a4_with_official_margins_and_text_block(doc) -> None:
    sec = doc.sections[0]
    mm = {
        k: getattr(sec, k).mm
        for k in ("page_width", "page_height", "top_margin", "left_margin", "right_margin", "bottom_margin")
    }
    assert mm["page_width"] == pytest.approx(210, abs=0.1) and mm["page_height"] == pytest.approx(
        297, abs=0.1
    )
    assert mm["top_margin"] == pytest.approx(37, abs=0.1) and mm["left_margin"] == pytest.approx(28, abs=0.1)
    assert mm["page_width"] - mm["left_margin"] - mm["right_margin"] == pytest.approx(156, abs=0.2)
    assert mm["page_height"] - mm["top_margin"] - mm["bottom_margin"] == pytest.approx(225, abs=0.2)


@pytest.mark.parametrize(
    ("style", "font", "size"),
    [
        ("公文标题", "方正小标宋简体", 22),
        ("公文正文", "仿宋_GB2312", 16),
        ("一级标题", "黑体", 16),
        ("二级标题", "楷体_GB2312", 16),
        ("附件标题", "黑体", 16),
        ("页码", "宋体", 14),
    ],
)
def test_named_styles_carry_the_fonts(doc, style: str, font: str, size: int) -> None:
    st = doc.styles[style]
    assert st.base_style.name == "Normal"
    assert _east_asia(st) == font
    assert st.font.size == Pt(size)


def test_body_spacing_and_indent(doc) -> None:
    for name in ("公文正文", "一级标题", "二级标题"):
        pf = doc.styles[name].paragraph_format
        assert pf.line_spacing_rule == WD_LINE_SPACING.EXACTLY
        assert pf.line_spacing.pt == pytest.approx(28.9, abs=0.05)
        assert pf.first_line_indent == Pt(32)
    assert doc.styles["公文标题"].paragraph_format.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert doc.styles["附件标题"].paragraph_format.page_break_before is True


def test_paragraphs_use_the_styles(doc) -> None:
    by_text = {p.text: p.style.name for p in doc.paragraphs if p.text}
    assert by_text["关于2026年第四季度《丽水市深化数字政府建设实施方案》落实情况的通报"] == "公文标题"
    for heading in ("一、总体情况", "二、主要进展", "三、存在问题", "四、下一步工作"):
        assert by_text[heading] == "一级标题"
    assert by_text["（一）推进数字经济"] == "二级标题"
    assert [p.text for p in doc.paragraphs if p.style.name == "附件标题"] == ["附件1", "附件2", "附件3"]
    preamble = next(p.text for p in doc.paragraphs if p.text.startswith("为推动"))
    assert "《丽水市深化数字政府建设实施方案》（丽政发〔2022〕29号）" in preamble


def test_page_numbers_odd_right_even_left(doc) -> None:
    assert doc.settings.odd_and_even_pages_header_footer is True
    assert doc.settings.element.find(qn("w:evenAndOddHeaders")) is not None
    sec = doc.sections[0]
    for footer, align in (
        (sec.footer, WD_ALIGN_PARAGRAPH.RIGHT),
        (sec.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT),
    ):
        par = footer.paragraphs[0]
        assert par.alignment == align and par.style.name == "页码"
        instr = "".join(el.text for el in par._p.iter(qn("w:instrText")))
        assert instr.strip() == "PAGE"
        assert par.text.startswith("— ") and par.text.endswith(" —")


def test_attachment_tables_repeat_their_header_row(doc) -> None:
    assert len(doc.tables) == 3
    for t in doc.tables:
        assert t.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    assert [c.text for c in doc.tables[0].rows[0].cells][:3] == ["排名", "单位", "应报"]


def test_numbers_in_the_docx_are_the_hand_counted_ones(doc) -> None:
    text = _all_text(doc)
    for phrase in (
        "本期纳入统计的工作任务共6项",
        "已完成2项，占33.3%",
        "推进中2项，占33.3%",
        "滞后1项，占16.7%",
        "牵头单位未报送1项，占16.7%",
        "4个责任单位应报送9项，按时报送5项，迟报2项，未报送2项，按时报送率55.6%",
        "1项报送存在不合格数据",
        "与2026年第三季度相比，已完成增加1项",
        "按时报送率由上期的100.0%变为55.6%",
        "本期有3项任务需重点关注",
        "市甲局（迟报1项，最长逾期3个工作日）",
        "市丙局（未报送2项）",
    ):
        assert phrase in text, phrase
    rows = {r.cells[1].text: [c.text for c in r.cells] for r in doc.tables[0].rows[1:]}
    for unit, (rank, exp, on_time, late, longest, missing, invalid, rate, stars) in EXPECTED["units"].items():
        assert rows[unit] == [
            str(rank),
            unit,
            str(exp),
            str(on_time),
            str(late),
            str(longest),
            str(missing),
            str(invalid),
            rate,
            "★" * stars + "☆" * (5 - stars),
        ]
    assert rows["合计"][2:9] == ["9", "5", "2", "3", "2", "1", "55.6%"]
    lagging = [r.cells[1].text for r in doc.tables[1].rows[1:]]
    assert lagging == ["任务2（完善监测预警）", "任务3（优化掌上办事）", "任务6（加强宣传引导）"]


def test_charts_are_embedded(doc) -> None:
    assert len(doc.inline_shapes) == 2
    assert "图1 各部分任务状态" in _all_text(doc)


def test_editable_next_steps_text(tmp_path: Path) -> None:
    facts = quarter(next_steps_text="一是抓好整改。\n\n二是按时报送。")
    b = build_bulletin(facts, compute_metrics(facts, RatingConfig()))
    doc = Document(str(render_docx(b, tmp_path / "x.docx")))  # no charts: figures are left out
    texts = [p.text for p in doc.paragraphs]
    i = texts.index("四、下一步工作")
    assert texts[i + 1 : i + 3] == ["一是抓好整改。", "二是按时报送。"]
    assert len(doc.inline_shapes) == 0
