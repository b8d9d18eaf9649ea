"""The `duban` command line: contracts other tools read, exits and messages on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from duban.settings import REPO_ROOT
from duban_app.cli.main import app

SEED = REPO_ROOT / "config" / "plans" / "lishui-2022-29.txt"
runner = CliRunner()


def duban(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_import_twice_is_one_version_and_show_json_keeps_its_contract():
    code, out = duban("catalogue", "import", str(SEED))
    assert code == 0 and "43 items" in out and "new version 1" in out
    code, out = duban("catalogue", "import", str(SEED))
    assert code == 0 and "already stored as version 1" in out
    code, out = duban("catalogue", "show", "--format", "json")
    items = json.loads(out)
    assert len(items) == 43
    assert all(
        set(i) == {"id", "number", "part", "section", "title", "lead_unit", "co_units", "placeholders"}
        for i in items
    )
    t18 = next(i for i in items if i["number"] == 18)
    assert "市综合行政执法局" in t18["co_units"]  # the alias 市综合执法局 resolved to its canonical name
    t30 = next(i for i in items if i["number"] == 30)
    assert t30["lead_unit"] == "市委网信办" and t30["placeholders"] == ["市级有关单位"]


def test_diff_lists_exactly_the_amendments(tmp_path: Path):
    text = SEED.read_text(encoding="utf-8")
    amended = text.replace("5.建立高效诚信的监管机制。", "5.建立高效诚信的信用监管机制。").replace(
        "(责任单位:市委政法委、市信访局、市公安局、市司法局、市法院)",
        "(责任单位:市委政法委、市信访局、市公安局、市司法局)",
    )
    assert amended != text
    copy = tmp_path / "amended.txt"
    copy.write_text(amended, encoding="utf-8")
    assert duban("catalogue", "import", str(SEED))[0] == 0
    code, out = duban("catalogue", "import", str(copy))
    assert code == 0 and "new version 2" in out
    code, out = duban("catalogue", "diff", "--format", "json")
    d = json.loads(out)
    assert (d["from"], d["to"]) == (1, 2)
    assert [r["id"] for r in d["retitled"]] == ["T05"]
    assert [r["id"] for r in d["reassigned"]] == ["T07"]
    assert d["reassigned"][0]["old"][-1] == "市法院" and "市法院" not in d["reassigned"][0]["new"]
    assert d["added"] == [] and d["removed"] == [] and d["revised"] == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (bytes(range(256)) * 40, "binary"),
        ("这是一份没有任何任务的通知。\n请各单位知悉。\n".encode(), "no"),
        (b"\xff\xfe\xfa\xfb" * 500, ""),
    ],
    ids=["empty", "binary", "no-items", "undecodable"],
)
def test_bad_plan_document_exits_non_zero_naming_the_file_and_stores_nothing(
    tmp_path: Path, content: bytes, reason: str
):
    bad = tmp_path / "bad-plan.txt"
    bad.write_bytes(content)
    code, out = duban("catalogue", "import", str(bad))
    assert code != 0
    assert "bad-plan.txt" in out
    assert reason in out.lower() or reason == ""
    code, out = duban("catalogue", "show")
    assert code != 0 and "duban catalogue import" in out


def test_units_check_passes_on_the_seed_and_status_json_has_its_keys():
    assert duban("catalogue", "import", str(SEED))[0] == 0
    code, out = duban("units", "check")
    assert code == 0 and "resolve" in out
    code, out = duban("status", "--period", "2026Q4", "--format", "json")
    rows = json.loads(out)
    assert rows and all(set(r) == {"unit", "expected", "on_time", "late", "missing", "invalid"} for r in rows)
    assert sum(r["missing"] for r in rows) == sum(r["expected"] for r in rows)


def test_unknown_period_and_stage_are_clear_errors():
    assert duban("catalogue", "import", str(SEED))[0] == 0
    code, out = duban("periods", "show", "2026Q9")
    assert code != 0 and "2026Q9" in out
    code, out = duban("remind", "--period", "2026Q4", "--stage", "shout", "--dry-run")
    assert code != 0 and "shout" in out and "remind" in out
