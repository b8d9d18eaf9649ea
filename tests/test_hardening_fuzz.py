"""Hostile spreadsheets: every file is read or rejected with a reason, within time and memory.

Each input goes through the fenced probe (hardening.probe): a forked child with a memory
limit and an alarm runs ``read_tables`` and then what collect runs on every table. The
generators and the corpus mutations are the ``make soak`` ones at a few examples each.

The bombs the soak found in the reader (connectors/spreadsheets) — a cell-range bomb that
aborted the process, a Rust panic escaping as a BaseException, zip bombs inflated before the
check, cell multipliers in HTML and CSV — are fixed there and kept here as regressions.
"""

from __future__ import annotations

import os
import time
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
from hardening.probe import _probe

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


class _Directory:
    """A unit directory that misbehaves when identify asks it anything: the fence must hold."""

    def __init__(self, how: str) -> None:
        self.how = how

    def __getattr__(self, name: str) -> object:
        if self.how == "abort":
            os.abort()
        if self.how == "hang":
            time.sleep(30)
        raise ValueError(f"a bug in the core ({name})")


@pytest.mark.parametrize(("how", "outcome"), [("abort", "abort"), ("hang", "timeout"), ("raise", "crash")])
def test_the_probe_fences_an_abort_a_hang_and_a_crash(tmp_path: Path, how: str, outcome: str) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("任务编码,完成状态\nT01,推进中\n", encoding="utf-8")
    v = _probe(path, 256, 1.0, _Directory(how), None)
    assert v["outcome"] == outcome, v


def test_the_probe_reads_a_good_file_and_rejects_a_binary_one(prober: Prober) -> None:
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


# -- bombs the soak found in the reader (fixed in connectors/spreadsheets; kept as regressions) --


def test_a_cell_range_bomb_is_refused_not_an_abort(prober: Prober) -> None:
    # a 2 KB .xlsx with cells at A1 and XFD1048576 once made calamine abort the process (SIGABRT)
    v = prober.probe(bombs.cell_range_xlsx(), ".xlsx")
    assert v["outcome"] == "rejected" and v["peak_mb"] < BOUND_MB, v


def test_a_far_cell_in_an_xls_stays_within_the_memory_bound(prober: Prober) -> None:
    # one cell at row 65536, col 256 of a 5 KB .xls once cost ~1.2 GB (the dense range)
    v = prober.probe(bombs.far_cell_xls(), ".xls")
    assert v["outcome"] in OK and v["peak_mb"] < BOUND_MB, v


def test_an_ods_manifest_bomb_is_refused_before_inflating(prober: Prober) -> None:
    # mimetype and META-INF/manifest.xml were once inflated whole before the zip directory was judged
    v = prober.probe(bombs.ods_manifest_bomb(0.1), ".ods")
    assert v["outcome"] == "rejected" and v["peak_mb"] < BOUND_MB, v


def test_an_html_colspan_multiplier_stays_within_the_memory_bound(prober: Prober) -> None:
    # 2 MB of <td colspan="999"> once became 1 billion cells' worth of lists (630 MB at 2 MB, 11 s)
    v = prober.probe(bombs.html_colspan_bomb(0.2), ".xls")
    assert v["outcome"] in OK and v["peak_mb"] < BOUND_MB, v


def test_a_csv_of_line_breaks_stays_within_the_memory_bound(prober: Prober) -> None:
    # 19 MB of line breaks (under the 20 MB limit) once ran out of 1 GB after 9 s
    v = prober.probe(bombs.csv_lines_bomb(0.2), ".csv")
    assert v["outcome"] in OK and v["peak_mb"] < BOUND_MB, v


def test_an_inverted_xls_dimensions_record_is_refused_not_an_abort(prober: Prober) -> None:
    v = prober.probe(bombs.inverted_dims_xls(), ".xls")
    assert v["outcome"] in OK, v


def _panic_file(shared_dir: Path, tmp_path: Path) -> Path:
    data = bytearray((shared_dir / "corpus" / "spreadsheets" / PANIC_FILE).read_bytes())
    data[PANIC_AT : PANIC_AT + len(PANIC_BYTES)] = PANIC_BYTES
    path = tmp_path / "damaged.xls"
    path.write_bytes(bytes(data))
    return path


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


class _Panic(BaseException):
    """What pyo3 raises for a Rust panic: a BaseException, which ``except Exception`` lets through."""


def test_collect_quarantines_a_file_whose_reader_panics_and_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.spreadsheets.read as read
    import duban_app.collect as collect
    from duban.store.db import SHANGHAI
    from duban_app.catalogue import import_plan
    from duban_app.context import AppContext

    real = read._screen

    def opening(path: Path, *args: object) -> object:
        if path.name == "panics.xlsx":
            raise _Panic("range end index 43527 out of range for slice of length 7")
        return real(path, *args)

    monkeypatch.setattr(read, "_screen", opening)
    bad, good = tmp_path / "panics.xlsx", tmp_path / "good.csv"
    bad.write_bytes(b"PK\x03\x04 not really")
    good.write_text("任务编码,完成状态,本期进展情况\nT01,推进中,进展\n", encoding="utf-8")
    ctx = AppContext()
    try:
        import_plan(ctx, ctx.settings.plan_path)
        at = datetime(2027, 1, 5, tzinfo=SHANGHAI)
        rep = collect.collect_files(ctx, [bad, good], period="2026Q4", received_at=lambda p: at, workers=1)
    finally:
        ctx.close()
    assert rep.files == 2 and rep.submissions_new == 2 and rep.findings["unreadable"] >= 1


def test_a_damaged_dimensions_record_found_by_corpus_mutation_is_refused(
    shared_dir: Path, tmp_path: Path, prober: Prober
) -> None:
    # `make soak` found it: 10 bytes overwritten at 3825 of 1904DateWindowing.xls give a DIMENSIONS
    # record (non-zero reserved field, inverted ranges) for which calamine reserves ~5 PB and aborts.
    data = bytearray(
        (
            shared_dir / "corpus" / "spreadsheets" / "apache_poi/test-data/spreadsheet/1904DateWindowing.xls"
        ).read_bytes()
    )
    data[3825:3835] = bytes.fromhex("52e231b831c1ca4f881e")
    v = prober.probe(bytes(data), ".xls")
    assert v["outcome"] == "rejected", v
