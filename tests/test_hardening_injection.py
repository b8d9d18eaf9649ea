"""Injection and secrets: hostile names and text through every output; secrets in none of them.

The hostile quarter (hardening.hostile) runs through templates, collect (files and API),
reconcile, notices, ledger and bulletin on SQLite and PostgreSQL; hardening.injection then
checks every workbook for formulas, every HTML part for live markup, every file's place, and
every name's round trip. The checks are shown to catch what they look for.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from duban.collect.intake import ApiEntry, store_api_page
from duban.domain import ReportedItem
from duban.store import Store
from duban.store.db import SHANGHAI
from duban.store.models import SubmissionItemRow, SubmissionRow
from hardening.injection import _BAD_TAG, check_formulas, injection
from hardening.secrets import PASSWORD, TOKEN, scan, secrets_scan
from hardening.world import World, shared_world, world_cache_dir

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = shared_world(world_cache_dir(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("scratch"))
    yield w
    w.close()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_names_and_text_through_every_output(
    world: World, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        request.getfixturevalue("pg_url")
    res = injection(world, tmp_path, backends=(backend,))
    assert res.problems == [], "\n".join(res.problems)
    assert "notices refused to build: none" in res.notes[0]


@pytest.mark.slow
def test_secrets_never_reach_logs_cli_output_artifacts_or_eml(world: World, tmp_path: Path) -> None:
    res = secrets_scan(world, tmp_path, cli=("remind (wrong password)",))
    assert res.problems == [], "\n".join(res.problems)
    assert res.trials > 20


def test_the_secret_scan_finds_each_wire_form() -> None:
    plain = b"\0duban-ops\0" + PASSWORD.encode()
    found = scan(
        {"a": b"x" + base64.b64encode(plain), "b": f"Authorization: Bearer {TOKEN}".encode(), "c": b"clean"}
    )
    assert found == ["a contains an SMTP password", "b contains the API token"]


def _xlsx(write) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    write(wb, wb.add_worksheet("填报表"))
    wb.close()
    return buf.getvalue()


def test_the_formula_check_catches_a_formula_a_link_and_an_unquoted_cell() -> None:
    formula = _xlsx(lambda wb, ws: ws.write_formula(0, 0, "=1+1"))
    link = _xlsx(lambda wb, ws: ws.write_url(0, 0, "http://evil.example/x"))
    unquoted = _xlsx(lambda wb, ws: ws.write_string(0, 0, "=cmd|' /C calc'!A0"))
    quoted = _xlsx(
        lambda wb, ws: ws.write_string(0, 0, "=cmd|' /C calc'!A0", wb.add_format({"quote_prefix": True}))
    )
    _, hostile, problems = check_formulas([("f", formula), ("l", link), ("u", unquoted), ("q", quoted)])
    assert hostile == 2
    assert any("is a formula" in p for p in problems) and any("hyperlink" in p for p in problems)
    unquoted_problems = [p for p in problems if "no quote prefix" in p]
    assert len(unquoted_problems) == 1 and unquoted_problems[0].startswith("u: 填报表!A1")


def test_the_markup_check_tells_escaped_text_from_live_tags() -> None:
    assert (
        _BAD_TAG.search('<p>&lt;script&gt;alert(1)&lt;/script&gt; <img src="data:image/png;base64,AAA"></p>')
        is None
    )
    for live in (
        "<script>x</script>",
        '<a href="http://evil.example/">x</a>',
        "<img src=x onerror=y>",
        '<div onclick="x">',
        "<svg/onload=x>",
    ):
        assert _BAD_TAG.search(live), live


def test_nul_in_an_api_record_is_stored_on_every_backend(store: Store) -> None:
    item = ReportedItem("T01", "市发改委", "推进中", 50.0, narrative="进展\x00截断", problems="\x00")
    entry = ApiEntry(
        "r1",
        "h1",
        datetime(2027, 1, 5, tzinfo=SHANGHAI),
        "市发改委",
        "市发改\x00委",
        "2026Q4",
        item,
        raw={"progress_text": "进展\x00截断"},
    )
    assert store_api_page(store, source="zzd", entries=[entry], watermark="w1", catalogue_version=1) == (1, 0)
    with store.session() as s:
        narrative = s.scalar(select(SubmissionItemRow.narrative))
        sub = s.scalar(select(SubmissionRow))
    assert narrative == "进展\ufffd截断" and sub.unit_raw == "市发改\ufffd委"
    assert sub.raw_rows == [{"progress_text": "进展\x00截断"}]  # what was received, kept as received


def test_a_line_break_in_a_unit_name_never_splits_a_header() -> None:
    from duban.notices.render import KEY_HEADER, render_notice
    from tests.smtp_helpers import MAIL_FROM, WHEN, make_ctx

    msg = render_notice(make_ctx("市局\r\nBcc: spy@evil.example"), mail_from=MAIL_FROM, when=WHEN)
    raw = msg.as_bytes()
    assert msg.get_all("Bcc") is None and b"\r\nBcc:" not in raw
    assert "\n" not in msg[KEY_HEADER] and "spy@evil.example" in msg[KEY_HEADER]
