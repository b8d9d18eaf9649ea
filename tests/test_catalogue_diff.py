"""Comparing two catalogue versions: an amended seed shows exactly what was amended."""

from __future__ import annotations

import pytest

from duban.catalogue import diff_catalogues, parse_document, parse_text
from duban.settings import REPO_ROOT
from duban.units import UnitDirectory, resolve_catalogue

SEED = REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt"
TASK5 = "5.建立高效诚信的监管机制。"
TASK7_CLAUSE = "(责任单位:市委政法委、市信访局、市公安局、市司法局、市法院)"


@pytest.fixture(scope="module")
def seed_text() -> str:
    text = SEED.read_text(encoding="utf-8")
    assert TASK5 in text and TASK7_CLAUSE in text  # the amendments below apply to this seed
    return text


def test_same_document_gives_an_empty_diff(seed_text):
    diff = diff_catalogues(parse_document(SEED), parse_text(seed_text, "copy.txt"))
    assert diff.is_empty() and diff.lines() == []


def test_retitled_task_5_and_unit_removed_from_task_7(seed_text, tmp_path):
    amended = seed_text.replace(TASK5, "5.健全信用监管长效机制。").replace(
        TASK7_CLAUSE, "(责任单位:市委政法委、市信访局、市公安局、市司法局)"
    )
    path = tmp_path / "lishui-2022-29-amended.txt"
    path.write_text(amended, encoding="utf-8")
    diff = diff_catalogues(parse_document(SEED), parse_document(path))
    assert not diff.is_empty()
    assert diff.added == [] and diff.removed == [] and diff.revised == []
    assert [(old.id, old.title, new.title) for old, new in diff.retitled] == [
        ("T05", "建立高效诚信的监管机制", "健全信用监管长效机制")
    ]
    assert [
        (old.id, [a.unit for a in old.assignments][-1], len(new.assignments)) for old, new in diff.reassigned
    ] == [("T07", "市法院", 4)]
    assert len(diff.lines()) == 2


def test_added_removed_role_order_and_text_changes():
    old = parse_text(
        "方案\n一、任务\n1.甲。(责任单位:市发改委、市财政局)\n2.乙。(责任单位:市审计局)\n"
        "3.丙。说明。(责任单位:市大数据局)\n4.丁。(责任单位:市公安局)\n",
        "v1.txt",
    )
    new = parse_text(
        "方案\n一、任务\n1.甲。(责任单位:市财政局、市发改委)\n2.乙。(牵头单位:市审计局;配合单位:市府办)\n"
        "3.丙。新的说明。(责任单位:市大数据局)\n5.戊。(责任单位:市民政局)\n",
        "v2.txt",
    )
    diff = diff_catalogues(old, new)
    assert [i.id for i in diff.added] == ["T05"]
    assert [i.id for i in diff.removed] == ["T04"]
    assert diff.retitled == []
    assert [old.id for old, _ in diff.reassigned] == ["T01", "T02"]  # order swapped; a co-unit added
    assert [old.id for old, _ in diff.revised] == ["T03"]  # same title and units, new text
    lines = diff.lines()
    assert lines[0].startswith("+ T05 戊") and lines[1] == "- T04 丁"


def test_resolved_catalogues_compare_on_canonical_units(seed_text):
    directory = UnitDirectory.load(REPO_ROOT / "config" / "units.yaml")
    old, _ = resolve_catalogue(parse_text(seed_text, "a.txt"), directory)
    renamed = seed_text.replace("市府办、市发改委、市应急管理局", "市政府办公室、市发改委、市应急管理局")
    new, _ = resolve_catalogue(parse_text(renamed, "b.txt"), directory)
    diff = diff_catalogues(old, new)
    assert diff.reassigned == []  # 市政府办公室 is 市府办 under another name
    assert diff.is_empty()
