"""The plan parser on the seed document, on every input format, and on bad input."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from duban.catalogue import parse_document, parse_text, read_lines
from duban.domain import Role
from duban.errors import CatalogueError
from duban.settings import REPO_ROOT

SEED = REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt"
FIXTURES = Path(__file__).parent / "fixtures" / "plans"
SEED_IDS = [f"T{n:02d}" for n in range(1, 36)] + [
    *("P5S1", "P5S2", "P5S3", "P5S4", "P6S1", "P6S2-1", "P6S2-2", "P6S2-3"),
]


@pytest.fixture(scope="module")
def seed():
    return parse_document(SEED)


def _clause_oracle(line: str) -> list[str]:
    """An independent reading of a seed line's clause: the last (...) group, split on 、."""
    inner = re.search(r"\(([^()]*)\)$", line.rstrip("。")).group(1)
    return inner.removeprefix("责任单位:").split("、")


def test_seed_plan_identity(seed):
    assert seed.plan.doc_number == "丽政发〔2022〕29号"
    assert seed.plan.title == "丽水市深化数字政府建设实施方案"
    assert seed.plan.issued_on == date(2022, 11, 25)
    assert seed.plan.issuer == "丽水市人民政府"
    assert seed.source_name == "lishui-2022-29.txt"


def test_seed_has_the_43_items_in_document_order(seed):
    assert [i.id for i in seed.items] == SEED_IDS
    assert [i.number for i in seed.items[:35]] == list(range(1, 36))
    assert all(i.assignments for i in seed.items)
    assert {i.part_key for i in seed.items} == {"二", "三", "四", "五", "六"}


def test_seed_units_are_the_documents_in_order_lead_first(seed):
    lines = SEED.read_text(encoding="utf-8").splitlines()
    numbered = {int(m.group(1)): line for line in lines if (m := re.match(r"^(\d+)\.", line))}
    for n, line in numbered.items():
        item = seed.item(f"T{n:02d}")
        assert [a.raw for a in item.assignments] == _clause_oracle(line), item.id
        assert [a.position for a in item.assignments] == list(range(len(item.assignments)))
        assert item.assignments[0].role is Role.LEAD
        assert all(a.role is Role.CO for a in item.assignments[1:])
        assert all(a.unit == a.raw for a in item.assignments)  # resolution is a separate step
    assert [a.raw for a in seed.item("P5S1").assignments] == [
        "市委网信办",
        "市公安局",
        "市大数据局",
        "市级有关单位",
    ]
    assert [a.raw for a in seed.item("P6S1").assignments] == [
        "市发改委",
        "市财政局",
        "市审计局",
        "市大数据局",
    ]
    assert [a.raw for a in seed.item("P6S2-3").assignments] == ["市市场监管局", "市大数据局"]


def test_seed_placeholders_are_flagged_wherever_they_appear(seed):
    flagged = {i.id for i in seed.items for a in i.assignments if a.placeholder}
    assert flagged == {"T30", "T34", "P5S1", "P6S2-1", "P6S2-2"}
    assert all(a.raw == "市级有关单位" for i in seed.items for a in i.assignments if a.placeholder)
    assert seed.item("T30").lead_units == ["市委网信办"]
    assert seed.item("T30").placeholders == ["市级有关单位"]
    assert seed.item("P6S2-1").lead_units == []  # only a placeholder: nobody to contact


def test_seed_titles_and_texts(seed):
    t1 = seed.item("T01")
    assert t1.title == "建立经济社会发展态势全面感知体系"
    assert t1.text.startswith("建立经济社会发展态势全面感知体系。深化经济运行")
    assert t1.text.endswith("经济基础数据库。") and "责任单位" not in t1.text
    assert (t1.part_key, t1.part_title) == ("二", "以数字化改革助力政府职能转变")
    assert (t1.section_key, t1.section_title) == ("(一)", "打造精准科学的数字经济调节体系")
    assert seed.item("T15").title == "加快创建生态产品价值实现机制示范区,进一步畅通“两山”转化渠道"
    p5 = seed.item("P5S1")
    assert p5.title == "强化安全管理责任" and p5.section_title == "强化安全管理责任"
    p6 = seed.item("P6S1")
    assert p6.title == "创新数字政府建设协同机制"  # the heading; the units are in the body
    assert p6.text.startswith("统筹数字技术应用和制度创新") and p6.text.endswith("审计评价。")
    assert [seed.item(f"P6S2-{k}").title for k in (1, 2, 3)] == [
        "创新完善理论体系",
        "创新完善制度体系",
        "健全标准规范",
    ]
    assert not any("(责任单位" in i.text or "市级有关单位" in i.text for i in seed.items)


def test_seed_parts_one_and_seven_are_context_not_items(seed):
    assert not [i for i in seed.items if i.part_key in ("一", "七")]
    parts = [c.part_key for c in seed.context]
    assert parts.count("一") == 3 and parts.count("七") == 4
    assert any(c.text.startswith("指导思想。以习近平") for c in seed.context)
    assert seed.context[0].part_key == "" and seed.context[0].text.startswith("为贯彻落实党中央")


def test_ids_are_stable_across_reimports_and_title_changes(seed):
    text = SEED.read_text(encoding="utf-8")
    again = parse_text(text, "lishui-2022-29.txt")
    assert again == seed and again.content_hash() == seed.content_hash()
    edited = text.replace("5.建立高效诚信的监管机制。", "5.建立健全信用监管机制。").replace(
        "创新完善理论体系。创新完善由", "完善理论体系。创新完善由"
    )
    changed = parse_text(edited, "amended.txt")
    assert [i.id for i in changed.items] == SEED_IDS
    assert changed.item("T05").title == "建立健全信用监管机制"
    assert changed.content_hash() != seed.content_hash()


def test_same_plan_in_docx_html_markdown_and_gbk_gives_the_same_items(seed, tmp_path):
    lines = SEED.read_text(encoding="utf-8").splitlines()
    docx_path = tmp_path / "plan.docx"
    doc = Document()
    for line in lines:
        doc.add_paragraph(line)
    doc.save(str(docx_path))
    html_path = tmp_path / "plan.html"
    body = "".join(f"<p>{line}</p>\n" for line in lines)
    html_path.write_text(f"<html><head><meta charset='utf-8'></head><body>{body}</body></html>", "utf-8")
    gbk_path = tmp_path / "plan-gbk.txt"
    gbk_path.write_bytes(SEED.read_text(encoding="utf-8").encode("gb18030"))
    bom_path = tmp_path / "plan-bom.md"
    bom_path.write_bytes(b"\xef\xbb\xbf" + SEED.read_bytes())
    for path in (docx_path, html_path, gbk_path, bom_path):
        other = parse_document(path)
        assert other.items == seed.items, path.name
        assert other.plan.doc_number == seed.plan.doc_number


def test_docx_table_with_heading_row_empty_and_two_unit_cells(tmp_path):
    doc = Document()
    for line in ("某市数字政府建设任务清单", "某政办发〔2023〕5号", "一、重点任务"):
        doc.add_paragraph(line)
    table = doc.add_table(rows=1, cols=5)
    for cell, head in zip(
        table.rows[0].cells, ("序号", "工作任务", "牵头单位", "责任单位", "完成时限"), strict=True
    ):
        cell.text = head
    merged = table.add_row().cells
    merged[0].merge(merged[4]).text = "(一)数据底座"
    rows = [
        ("1", "建设数据仓。上线运行。", "市大数据局", "市发改委、市财政局", "2023年底"),
        ("2", "推进应用贯通。", "", "市府办\n市大数据局", ""),
    ]
    for values in rows:
        for cell, value in zip(table.add_row().cells, values, strict=True):
            cell.text = value
    path = tmp_path / "tasks.docx"
    doc.save(str(path))
    cat = parse_document(path)
    assert cat.plan.doc_number == "某政办发〔2023〕5号"
    assert [i.id for i in cat.items] == ["T01", "T02"]
    t1, t2 = cat.items
    assert (t1.section_key, t1.section_title, t1.title, t1.deadline) == (
        "(一)",
        "数据底座",
        "建设数据仓",
        "2023年底",
    )
    assert [(a.raw, a.role) for a in t1.assignments] == [
        ("市大数据局", Role.LEAD),
        ("市发改委", Role.CO),
        ("市财政局", Role.CO),
    ]
    # empty 牵头单位 cell: the first of the 责任单位 cell leads
    assert [(a.raw, a.role) for a in t2.assignments] == [("市府办", Role.LEAD), ("市大数据局", Role.CO)]
    blocks = read_lines(path)
    assert ["序号", "工作任务", "牵头单位", "责任单位", "完成时限"] in blocks


def test_html_table_and_markdown_table(tmp_path):
    html = parse_document(FIXTURES / "table.html")
    assert html.plan.title == "某市数字政府建设任务分工方案" and html.plan.doc_number == "某政发〔2023〕3号"
    assert [i.id for i in html.items] == ["T01", "T02", "P2S1"]
    assert [(a.raw, a.role) for a in html.item("T01").assignments] == [
        ("市大数据局", Role.LEAD),
        ("市公安局", Role.CO),
        ("市建设局", Role.CO),
    ]
    assert html.item("T01").text == "建设城市大脑。 完成一期工程。"
    assert html.context == ()  # the 文号 line is front matter, not preamble
    md = parse_document(FIXTURES / "table.md")
    assert md.plan.doc_number == "某政办发〔2023〕12号"
    assert [(i.id, i.deadline) for i in md.items] == [
        ("T01", "2023年底"),
        ("T02", "2024年6月"),
        ("T03", None),
    ]
    assert [(a.raw, a.role) for a in md.item("T02").assignments] == [
        ("市行政服务中心", Role.LEAD),
        ("市大数据局", Role.LEAD),
    ]
    assert [a.placeholder for a in md.item("T03").assignments] == [False, True]


def test_cover_letter_front_matter_gives_plan_identity():
    cat = parse_document(FIXTURES / "responsible_fullwidth.txt")
    assert cat.plan.doc_number == "莲政办发〔2023〕7号"
    assert cat.plan.title == "莲都区数字政府建设2023年工作要点"
    assert cat.plan.issued_on == date(2023, 3, 15)
    assert cat.plan.issuer == "莲都区人民政府办公室"


def test_numbering_that_restarts_per_part_gets_qualified_unique_ids():
    text = (
        "方案\n一、甲\n1.任务一。(责任单位:市发改委)\n2.任务二。(责任单位:市财政局)\n"
        "二、乙\n1.任务三。(责任单位:市审计局)\n"
    )
    cat = parse_text(text, "restart.txt")
    assert [i.id for i in cat.items] == ["P1T01", "P1T02", "P2T01"]


def test_numbered_principles_in_a_part_without_units_are_context():
    text = (
        "方案\n一、基本原则\n1.坚持系统观念。统筹推进。\n2.坚持数据赋能。\n"
        "二、任务\n1.建设平台。(责任单位:市大数据局)\n"
    )
    cat = parse_text(text, "principles.txt")
    # the principles leave the numbering before ids are given, so the one task is plain T01
    assert [(i.id, i.part_key) for i in cat.items] == [("T01", "二")]
    assert [c.text for c in cat.context] == ["坚持系统观念。统筹推进。", "坚持数据赋能。"]


def test_a_large_document_parses_completely(tmp_path):
    """About 1 MB of tasks (the seed's tasks renumbered many times) parses without loss."""
    tasks = [line for line in SEED.read_text(encoding="utf-8").splitlines() if re.match(r"^\d+\.", line)]
    lines, n = ["某市大规模实施方案", "一、任务"], 0
    while sum(len(x) for x in lines) < 350_000:  # ~1 MB in UTF-8
        for line in tasks:
            n += 1
            lines.append(re.sub(r"^\d+\.", f"{n}.", line))
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert path.stat().st_size > 1_000_000
    cat = parse_document(path)
    assert len(cat.items) == n and cat.items[-1].id == f"T{n:04d}"
    assert all(i.assignments for i in cat.items)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"  \n\n \r\n", "empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("latin1.txt", "Planification café à réaliser: ÿ€".encode("cp1252") + b"\xff\x80", "decode"),
        ("prose.txt", "一份通知\n各单位:\n请按时参加会议。\n".encode(), "no recognisable items"),
        ("broken.docx", b"this is not a zip package", "docx"),
        ("scan.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    ],
)
def test_bad_input_names_the_file_and_the_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CatalogueError) as info:
        parse_document(path)
    assert info.value.source == str(path)
    assert reason in info.value.reason
    assert name in str(info.value)


def test_missing_file_and_empty_text():
    with pytest.raises(CatalogueError, match="cannot read"):
        parse_document(Path("/nonexistent/plan.txt"))
    with pytest.raises(CatalogueError, match="empty"):
        parse_text("   \n", "pasted")


_PIECES = [
    *("一、", "二、", "(一)", "（二）", "1.", "２．", "3、", "。", "\n", "\n", " ", "|", "、", ",", "；"),
    *("(", ")", "（", "）", ":", "：", "责任单位", "牵头单位", "配合单位", "牵头", "配合", "完成时限"),
    *(
        "市发改委",
        "市大数据局",
        "各县(市、区)政府",
        "市级有关单位",
        "建设平台",
        "丽政发〔2022〕29号",
        "2022年",
    ),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=80))
def test_any_text_gives_a_catalogue_or_a_catalogue_error(pieces):
    """Whatever the text, the parser answers with a catalogue or a CatalogueError — never a crash."""
    try:
        cat = parse_text("".join(pieces), "fuzz.txt")
    except CatalogueError as exc:
        assert exc.source == "fuzz.txt" and exc.reason
        return
    ids = [i.id for i in cat.items]
    assert len(ids) == len(set(ids)) and all(ids)
    for item in cat.items:
        assert [a.position for a in item.assignments] == list(range(len(item.assignments)))
        assert all(a.raw and a.unit == a.raw for a in item.assignments)


def test_a_document_number_cited_in_the_preamble_is_not_the_plans():
    text = (
        "某市数字政府建设方案\n根据《指导意见》(国发〔2022〕14号)精神,制定本方案。\n"
        "一、任务\n1.建设平台。(责任单位:市大数据局)\n"
    )
    assert parse_text(text, "t.txt").plan.doc_number == ""
    own = parse_text("某市数字政府建设方案\n某政发〔2023〕1号\n" + text.split("\n", 1)[1], "t.txt")
    assert own.plan.doc_number == "某政发〔2023〕1号"
