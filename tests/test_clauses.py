"""One test per way a plan writes its units, each on a small fixture document."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.catalogue import parse_document
from duban.catalogue.clauses import build_assignments, find_clauses, is_placeholder_name, split_units
from duban.domain import Item, Role

FIXTURES = Path(__file__).parent / "fixtures" / "plans"
L, C = Role.LEAD, Role.CO


def units(item: Item) -> list[tuple[str, Role, bool]]:
    return [(a.raw, a.role, a.placeholder) for a in item.assignments]


def test_responsible_list_full_width_punctuation():
    cat = parse_document(FIXTURES / "responsible_fullwidth.txt")
    t1 = cat.item("T01")  # numbered "１．" with a full-width digit and dot
    assert units(t1) == [("区大数据中心", L, False), ("区发改局", C, False), ("区财政局", C, False)]
    assert t1.title == "完善公共数据平台" and "责任单位" not in t1.text
    assert units(cat.item("T02")) == [("区大数据中心", L, False)]


def test_clause_without_a_label():
    cat = parse_document(FIXTURES / "unlabelled.txt")
    assert units(cat.item("T01")) == [
        ("市委网信办", L, False),
        ("市大数据局", C, False),
        ("市级有关单位", C, True),
    ]
    # "(试行)" inside the text is prose, not a unit list
    assert cat.item("T02").title == "开展网络安全培训(试行)"
    assert units(cat.item("T02")) == [("市委网信办", L, False)]


def test_lead_label_then_responsible_label():
    cat = parse_document(FIXTURES / "lead_resp.txt")
    assert units(cat.item("T01")) == [
        ("市行政服务中心", L, False),
        ("市发改委", C, False),
        ("市市场监管局", C, False),
    ]


def test_lead_and_co_labels_full_width_with_a_collective_containing_a_separator():
    cat = parse_document(FIXTURES / "lead_co_fullwidth.txt")
    item = cat.item("P1S1")
    assert item.title == "建设乡村数字基础设施"
    assert units(item) == [
        ("市经信局", L, False),
        ("市农业农村局", C, False),
        ("市通信管理办", C, False),
        ("各区、县级市", C, True),
    ]


def test_clause_with_only_a_lead_label_makes_every_listed_unit_lead():
    cat = parse_document(FIXTURES / "lead_only.txt")
    assert units(cat.item("T01")) == [("市府办", L, False), ("市大数据局", L, False)]
    assert cat.item("T01").lead_unit == "市府办"


def test_role_suffixes_lead_and_co():
    cat = parse_document(FIXTURES / "suffix_roles.txt")
    assert units(cat.item("T01")) == [
        ("市医保局", L, False),
        ("市卫健委", L, False),
        ("市人力社保局", C, False),
    ]
    assert units(cat.item("T02")) == [("市人力社保局", L, False)]  # "(由…负责)"


def test_label_lines_under_the_task():
    cat = parse_document(FIXTURES / "label_lines.txt")
    t1, t2 = cat.item("T01"), cat.item("T02")
    assert units(t1) == [("区发改局", L, False), ("区大数据中心", C, False), ("区财政局", C, False)]
    assert t1.deadline == "2023年12月底"
    assert t1.text == "建设区级数据仓。完成数据仓建设并上线运行。"
    assert units(t2) == [("区委政法委", L, False), ("各乡镇(街道)", C, True)]


def test_table_columns_with_empty_and_double_cells():
    cat = parse_document(FIXTURES / "table.md")
    assert units(cat.item("T01")) == [
        ("市大数据局", L, False),
        ("市发改委", C, False),
        ("市财政局", C, False),
    ]
    assert units(cat.item("T02")) == [("市行政服务中心", L, False), ("市大数据局", L, False)]
    assert units(cat.item("T03")) == [("市府办", L, False), ("市级有关单位", C, True)]
    assert cat.item("T03").deadline is None


def test_nested_parentheses_inside_the_unit_list():
    cat = parse_document(FIXTURES / "nested_parens.txt")
    assert units(cat.item("T01")) == [
        ("市大数据局", L, False),
        ("各县(市、区)政府", C, True),
        ("市财政局", C, False),
    ]
    assert units(cat.item("T02")) == [("市府办", L, False), ("各县（市、区）人民政府", C, True)]
    assert cat.item("T01").text == "健全协调机制。建立市县协同机制。"


def test_heading_then_body_paragraphs_and_numbering_across_sections():
    cat = parse_document(FIXTURES / "heading_body.txt")
    assert [i.id for i in cat.items] == ["T01", "T02", "T03", "P3S1", "P3S2-1", "P3S2-2"]
    assert cat.item("T03").section_key == "(二)"  # numbering runs on across sections
    single = cat.item("P3S1")
    assert single.title == "创新协同机制"  # the section heading
    assert single.text == "统筹技术应用和制度创新。建立多部门联审制度。\n做好资金保障。"
    assert units(single) == [("市发改委", L, False), ("市财政局", C, False)]
    assert [cat.item(i).title for i in ("P3S2-1", "P3S2-2")] == ["创新完善理论体系", "健全标准规范"]
    assert units(cat.item("P3S2-1")) == [("市级有关单位", L, True)]
    assert [c.text for c in cat.context] == ["指导思想。坚持系统观念。"]


@pytest.mark.parametrize(
    "text",
    [
        "根据《指导意见》(国发〔2022〕14号)",
        "实施方案(试行)",
        "支持龙泉市等低(零)碳试点建设",
        "(此件公开发布)",
        "建设中心(丽水市)。",
    ],
)
def test_prose_parentheses_are_not_unit_clauses(text):
    assert find_clauses(text) == []


def test_inline_labels_at_paragraph_end_and_deadline_in_clause():
    text = "推进数据共享。责任单位:市大数据局、市发改委;完成时限:2023年底"
    clauses = find_clauses(text)
    assert len(clauses) == 1 and text[clauses[0].start :].startswith("责任单位")
    segs = [s for c in clauses for s in c.segments]
    assert [(a.raw, a.role) for a in build_assignments(text, segs)] == [("市大数据局", L), ("市发改委", C)]


def test_split_units_keeps_collectives_and_strips_trailing_deng():
    text = "市发改委、各县(市、区)政府,市经信局等部门;各区、县级市 市财政局"
    assert [text[a:b] for a, b in split_units(text)] == [
        "市发改委",
        "各县(市、区)政府",
        "市经信局",
        "各区、县级市",
        "市财政局",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("市级有关单位", True),
        ("市直有关部门", True),
        ("各有关单位", True),
        ("各县(市、区)政府", True),
        ("各县（市、区）人民政府", True),
        ("各区、县级市", True),
        ("市发改委", False),
        ("市委网信办", False),
        ("丽水开发区", False),
    ],
)
def test_placeholder_patterns(name, expected):
    assert is_placeholder_name(name) is expected
