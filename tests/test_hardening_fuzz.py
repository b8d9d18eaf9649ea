"""Hostile spreadsheets: every file is read or rejected with a reason, within time and memory.

Each input goes through the fenced probe (hardening.probe): a forked child with a memory
limit and an alarm runs ``read_tables`` and then what collect runs on every table. The
generators and the corpus mutations are the ``make soak`` ones at a few examples each.

The reader (connectors/spreadsheets) has known failures, found by the soak; each is pinned
here as a strict xfail that names the bug, so fixing it turns the test red until the mark is
removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from connectors.spreadsheets import read_tables
from duban.errors import SubmissionUnreadable
from hardening import bombs
from hardening.fuzz import OK, Prober, fuzz_corpus
from hardening.fuzzgen import csv_files, html_files, xls_files, xlsx_files
from hardening.mutate import mutate

BOUND_MB = 64  # a file under 2 MB may not cost more than this on top of the worker
PANIC_FILE = "SheetJS_test_files/sheet_visibility5.xls"
PANIC_AT = 8616  # 22 bytes overwritten here make calamine panic in xls::parse_formula
PANIC_BYTES = bytes.fromhex("aa6175fc4482c91eb65c479b2141f82504390a037f0c")


@pytest.fixture(scope="module")
def prober(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prober]:
    with Prober(tmp_path_factory.mktemp("probe"), limit_mb=1024, timeout_s=20) as p:
        yield p


FAST = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def _verdict(prober: Prober, drawn: tuple[bytes, str]) -> dict:
    v = prober.probe(*drawn)
    assert v["outcome"] in OK, v
    if v["outcome"] == "rejected":
        assert v["reason"].strip()
    return v


@FAST
@given(csv_files())
def test_generated_csv_is_read_or_rejected(prober: Prober, drawn: tuple[bytes, str]) -> None:
    _verdict(prober, drawn)


@FAST
@given(xlsx_files())
def test_generated_xlsx_is_read_or_rejected(prober: Prober, drawn: tuple[bytes, str]) -> None:
    _verdict(prober, drawn)


@FAST
@given(xls_files())
def test_generated_xls_is_read_or_rejected(prober: Prober, drawn: tuple[bytes, str]) -> None:
    _verdict(prober, drawn)


@FAST
@given(html_files())
def test_generated_html_as_xls_is_read_or_rejected(prober: Prober, drawn: tuple[bytes, str]) -> None:
    _verdict(prober, drawn)


def test_the_probe_tells_a_crash_an_abort_and_a_hang_apart(prober: Prober, tmp_path: Path) -> None:
    v = prober.probe(bombs.cell_range_xlsx(), ".xlsx")  # calamine aborts the process (see below)
    assert v["outcome"] == "abort" and "SIGABRT" in v["reason"]
    assert prober.probe(b"\x00" * 64, ".csv")["outcome"] == "rejected"
    assert prober.probe("任务编码,完成状态\nT01,推进中\n".encode(), ".csv")["outcome"] == "read"


@pytest.mark.slow
def test_corpus_files_and_a_mutation_of_each_are_read_or_rejected(prober: Prober, shared_dir: Path) -> None:
    res = fuzz_corpus(prober, mutations=1, seed_value=9, root=shared_dir / "corpus" / "spreadsheets")
    assert res.problems == [], "\n".join(res.problems)
    assert res.trials >= 100 and res.counts.get("read", 0) + res.counts.get("empty", 0) > 0


def test_mutations_are_repeatable_and_reach_inside_zip_members() -> None:
    import io
    import random

    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet().write_string(0, 0, "任务编码")
    wb.close()
    data = buf.getvalue()
    a = [mutate(data, random.Random(3))[1] for _ in range(1)]
    b = [mutate(data, random.Random(3))[1] for _ in range(1)]
    ops = {mutate(data, random.Random(k))[1].split(" in ")[0] for k in range(40)}
    assert a == b and {"refs", "numbers", "truncate"} & ops and {"flip", "overwrite", "insert"} & ops


@pytest.mark.parametrize(
    "name",
    [
        "xlsx zip bomb (1 GB sheet)",
        "xlsx billion laughs",
        "ods billion laughs",
        "html billion laughs",
        "ods repeated-cell bomb",
    ],
)
def test_zip_bomb_and_entity_expansion_are_refused_within_the_memory_bound(prober: Prober, name: str) -> None:
    build, suffix = bombs.BOMBS[name]
    v = prober.probe(build(0.25), suffix)  # the zip bomb at 256 MB: still over the 200 MB limit
    assert v["outcome"] == "rejected" and v["peak_mb"] < BOUND_MB, v


# -- known reader bugs (connectors/spreadsheets), found by `make soak` ----------------------


@pytest.mark.xfail(
    strict=True,
    reason="read.py: a 2 KB .xlsx with cells at A1 and XFD1048576 makes calamine "
    "allocate the whole 17-billion-cell range and abort the process (SIGABRT) — a whole batch dies",
)
def test_a_cell_range_bomb_is_refused_not_an_abort(prober: Prober) -> None:
    v = prober.probe(bombs.cell_range_xlsx(), ".xlsx")
    assert v["outcome"] in OK, v


@pytest.mark.xfail(
    strict=True,
    reason="read.py: one cell at row 65536, col 256 of a 5 KB .xls costs ~1.2 GB "
    "(calamine builds the dense range); aborts under a 1 GB limit",
)
def test_a_far_cell_in_an_xls_stays_within_the_memory_bound(prober: Prober) -> None:
    v = prober.probe(bombs.far_cell_xls(), ".xls")
    assert v["outcome"] in OK and v["peak_mb"] < 4 * BOUND_MB, v


@pytest.mark.xfail(
    strict=True,
    reason="read.py _sniff_zip: an .ods's mimetype and META-INF/manifest.xml are "
    "inflated whole (zf.read) before _check_zip looks at the declared sizes",
)
def test_an_ods_manifest_bomb_is_refused_before_inflating(prober: Prober) -> None:
    v = prober.probe(bombs.ods_manifest_bomb(0.1), ".ods")
    assert v["outcome"] == "rejected" and v["peak_mb"] < BOUND_MB, v


@pytest.mark.xfail(
    strict=True,
    reason="text.py _Tables: colspan up to 999 multiplies every cell; 400 KB of "
    '<td colspan="999"> become ~17M cells (2 MB: 630 MB, 11 s)',
)
def test_an_html_colspan_multiplier_stays_within_the_memory_bound(prober: Prober) -> None:
    v = prober.probe(bombs.html_colspan_bomb(0.2), ".xls")
    assert v["outcome"] in OK and v["peak_mb"] < BOUND_MB, v


@pytest.mark.xfail(
    strict=True,
    reason="text.py read_delimited: no row budget; 1.9 MB of line breaks cost "
    "~150 MB (19 MB under the 20 MB limit: MemoryError at 1 GB after ~9 s)",
)
def test_a_csv_of_line_breaks_stays_within_the_memory_bound(prober: Prober) -> None:
    v = prober.probe(bombs.csv_lines_bomb(0.1), ".csv")
    assert v["outcome"] in OK and v["peak_mb"] < BOUND_MB, v


def _panic_file(shared_dir: Path, tmp_path: Path) -> Path:
    data = bytearray((shared_dir / "corpus" / "spreadsheets" / PANIC_FILE).read_bytes())
    data[PANIC_AT : PANIC_AT + len(PANIC_BYTES)] = PANIC_BYTES
    path = tmp_path / "damaged.xls"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.xfail(
    strict=True,
    reason="read.py read_tables: calamine's Rust panic arrives as "
    "pyo3_runtime.PanicException, a BaseException that `except Exception` lets through",
)
def test_a_rust_panic_in_calamine_is_refused_with_a_reason(shared_dir: Path, tmp_path: Path) -> None:
    path = _panic_file(shared_dir, tmp_path)
    try:
        read_tables(path)
        outcome = "read"
    except SubmissionUnreadable:
        outcome = "rejected"
    except BaseException as exc:
        outcome = f"escaped {type(exc).__name__}"
    assert outcome == "rejected"


def test_collect_quarantines_a_file_whose_reader_panics(shared_dir: Path, tmp_path: Path) -> None:
    from duban.store.db import SHANGHAI
    from duban_app.catalogue import import_plan
    from duban_app.collect import collect_files
    from duban_app.context import AppContext

    path = _panic_file(shared_dir, tmp_path)
    ctx = AppContext()
    try:
        import_plan(ctx, ctx.settings.plan_path)
        rep = collect_files(
            ctx, [path], period="2026Q4", received_at=lambda p: datetime(2027, 1, 5, tzinfo=SHANGHAI)
        )
        assert rep.quarantined == 1 and rep.findings["unreadable"] == 1
    finally:
        ctx.close()
