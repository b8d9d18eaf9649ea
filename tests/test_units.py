"""The unit directory: loading config/units.yaml, resolving names, resolving a catalogue."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.catalogue import parse_document, parse_text
from duban.domain import FindingKind, Role
from duban.errors import ConfigError
from duban.settings import REPO_ROOT
from duban.units import Resolution, Unit, UnitDirectory, resolve_catalogue

UNITS_YAML = REPO_ROOT / "config" / "units.yaml"
SEED = REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt"


@pytest.fixture(scope="module")
def directory() -> UnitDirectory:
    return UnitDirectory.load(UNITS_YAML)


def test_directory_covers_every_unit_of_the_seed(directory):
    seed = parse_document(SEED)
    resolved, findings = resolve_catalogue(seed, directory)
    assert findings == []
    named = {a.unit for i in resolved.items for a in i.assignments if not a.placeholder}
    assert named == {u.short_name for u in directory.units}  # no unit missing, none superfluous
    assert len(directory) == 43
    for unit in directory.units:
        assert unit.full_name.startswith(("丽水", "中共丽水", "中国人民银行丽水")), unit
        assert unit.emails and all(e.endswith("@lishui.example") for e in unit.emails)
    assert sum(1 for u in directory.units if u.supervisor) >= 5


def test_seed_tasks_17_and_18_resolve_to_the_same_unit(directory):
    resolved, _ = resolve_catalogue(parse_document(SEED), directory)
    t17, t18 = resolved.item("T17"), resolved.item("T18")
    assert t17.assignments[0].unit == t18.assignments[-1].unit == "市综合行政执法局"
    assert t18.assignments[-1].raw == "市综合执法局"
    assert [a.unit for a in t18.assignments][:1] == ["市府办"]
    # placeholders stay, flagged, with their raw text as unit
    t30 = resolved.item("T30").assignments[-1]
    assert (t30.unit, t30.placeholder, t30.role) == ("市级有关单位", True, Role.CO)


@pytest.mark.parametrize(
    ("query", "method", "unit", "suggestion"),
    [
        ("市发改委", "exact", "市发改委", None),
        ("市综合执法局", "alias", "市综合行政执法局", None),
        ("市政府办公室", "alias", "市府办", None),
        ("丽水市发展和改革委员会", "full_name", "市发改委", None),
        ("丽水市人民政府办公室", "full_name", "市府办", None),
        ("丽水市市场监管局", "alias", "市市场监管局", None),  # the city spelled out
        ("丽水市发展改革委员会", "fuzzy", "市发改委", None),  # one character missing: accepted
        # a typo in a four-character short name scores 75: not accepted, but suggested
        ("市发改局", "none", None, "市发改委"),
        ("市火星探测局", "none", None, None),
        ("市级有关单位", "placeholder", None, None),
        ("各县（市、区）人民政府", "placeholder", None, None),
        ("", "none", None, None),
    ],
)
def test_resolution(directory, query, method, unit, suggestion):
    res = directory.resolve(query)
    assert isinstance(res, Resolution)
    assert res.method == method
    assert (res.unit.short_name if res.unit else None) == unit
    assert res.suggestion == suggestion
    assert res.placeholder is (method == "placeholder")
    if method in ("exact", "alias", "full_name"):
        assert res.score == 100
    if method == "fuzzy":
        assert 90 <= res.score < 100
    if suggestion:
        assert 70 <= res.score < 90


def test_thresholds_are_parameters(directory):
    assert directory.resolve("市发改局", accept=75).unit == directory.get("市发改委")
    assert directory.resolve("市发改局", suggest=80).suggestion is None


def test_get_and_placeholders(directory):
    assert directory.get("市大数据局").full_name == "丽水市大数据发展管理局"
    with pytest.raises(KeyError):
        directory.get("市综合执法局")  # an alias, not a short name
    assert "市级有关单位" in directory.placeholders
    assert directory.is_placeholder("市直有关部门") and directory.is_placeholder("各区、县级市")
    assert not directory.is_placeholder("市大数据局")


def test_unknown_unit_is_reported_with_suggestion_and_never_dropped(directory):
    text = "方案\n一、任务\n1.建设平台。(责任单位:市发改局、市大数据局、市火星探测局、丽水市发展改革委员会)\n"
    resolved, findings = resolve_catalogue(parse_text(text, "t.txt"), directory)
    item = resolved.item("T01")
    assert [(a.unit, a.raw, a.position) for a in item.assignments] == [
        ("市发改局", "市发改局", 0),
        ("市大数据局", "市大数据局", 1),
        ("市火星探测局", "市火星探测局", 2),
        ("市发改委", "丽水市发展改革委员会", 3),
    ]
    by_raw = {f.evidence["raw"]: f for f in findings}
    assert by_raw["市发改局"].kind is FindingKind.UNKNOWN_UNIT
    assert by_raw["市发改局"].evidence["suggestion"] == "市发改委"
    assert "市发改委" in by_raw["市发改局"].message_zh and "市发改委" in by_raw["市发改局"].message_en
    assert by_raw["市火星探测局"].kind is FindingKind.UNKNOWN_UNIT
    assert by_raw["市火星探测局"].evidence["suggestion"] is None
    assert by_raw["丽水市发展改革委员会"].kind is FindingKind.LOW_CONFIDENCE
    assert all(f.item_id == "T01" and f.evidence["item_id"] == "T01" for f in findings)
    assert len(findings) == 3


def test_two_names_of_one_unit_in_one_item_are_merged(directory):
    text = "方案\n一、任务\n1.建设平台。(责任单位:市府办、市大数据局、市政府办公室)\n"
    resolved, findings = resolve_catalogue(parse_text(text, "t.txt"), directory)
    assert [(a.unit, a.position) for a in resolved.item("T01").assignments] == [
        ("市府办", 0),
        ("市大数据局", 1),
    ]
    assert [f.kind for f in findings] == [FindingKind.DUPLICATE]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "units.yaml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("units: [\n  - short_name: x", "not valid YAML"),
        ("- just a list", "'units:' list"),
        ("units:\n  - short_name: 市甲局\n", "units[0] (市甲局): 'full_name' is required"),
        (
            "units:\n  - {short_name: 市甲局, full_name: 某市甲局, emails: [a@x.example]}\n"
            "  - {short_name: 市乙局, full_name: 某市乙局, emails: [not-an-address]}\n",
            "units[1] (市乙局): 'not-an-address' is not an e-mail address",
        ),
        (
            "units:\n  - {short_name: 市甲局, full_name: 某市甲局}\n"
            "  - {short_name: 市甲局, full_name: 某市乙局}\n",
            "units[1] (市甲局): duplicate short_name, first at units[0]",
        ),
        ("units:\n  - {short_name: 市甲局, full_name: 某市甲局, alias: [甲]}\n", "unknown key(s) alias"),
        (
            "units:\n  - {short_name: 市甲局, full_name: 某市甲局, supervisor: {name: 副秘书长}}\n",
            "'supervisor' needs a name and an e-mail address",
        ),
        (
            "units:\n  - {short_name: 市甲局, full_name: 某市甲局, aliases: [市乙局]}\n"
            "  - {short_name: 市乙局, full_name: 某市乙局}\n",
            "already a name of",
        ),
    ],
)
def test_bad_directory_names_the_file_and_the_entry(tmp_path, body, expected):
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        UnitDirectory.load(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_directory_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        UnitDirectory.load(tmp_path / "absent.yaml")


def test_unit_values_are_frozen(directory):
    unit = directory.get("市府办")
    assert isinstance(unit, Unit) and unit.supervisor is not None
    assert "市政府办公室" in unit.aliases and unit.names[0] == "市府办"
    with pytest.raises(AttributeError):
        unit.short_name = "x"  # type: ignore[misc]
