"""The connector against 60 real files from other projects (../shared/corpus/spreadsheets).

WPS, Tencent Docs, LibreOffice, Excel, BIFF5/8, ODS and odd CSVs (see its SOURCES.md). None
is a duban report, so most are rejected as "no report table found" — what matters is that
each one is read or rejected with a reason, and nothing else escapes. Files are read in
place, never copied.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from connectors.spreadsheets import read_many, read_tables, sniff_format
from connectors.spreadsheets.text import decode_text
from duban.domain import SheetTable
from duban.errors import SubmissionUnreadable


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> Path:
    folder = shared_dir / "corpus" / "spreadsheets"
    if not folder.is_dir():
        pytest.fail(f"{folder} is missing from ../shared")
    return folder


def _files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def test_every_corpus_file_is_read_or_rejected_with_a_reason(corpus: Path) -> None:
    files = _files(corpus)
    assert len(files) >= 60
    escaped: list[str] = []
    outcomes: dict[str, str] = {}
    for path in files:
        name = str(path.relative_to(corpus))
        try:
            tables = read_tables(path)
        except SubmissionUnreadable as exc:
            assert exc.reason_en and exc.reason_zh, name
            assert exc.source == str(path)
            outcomes[name] = "rejected: " + exc.reason_en
        except Exception:
            escaped.append(f"{name}: {traceback.format_exc(limit=3)}")
        else:
            assert isinstance(tables, list)
            for table in tables:
                assert isinstance(table, SheetTable)
                assert table.source == str(path)
                assert table.columns and table.header_row is not None
                assert all(r.row > table.header_row for r in table.rows)
            outcomes[name] = f"read: {len(tables)} table(s)"
    assert not escaped, "\n".join(escaped)
    assert len(outcomes) == len(files)
    # Nothing in the corpus is a progress report; a file of errors-only cells has no data at all.
    assert outcomes["tafia_calamine/tests/errors.xlsx"] == "read: 0 table(s)"
    assert outcomes["okfn_messytables/horror/characters.csv"].startswith("rejected: no report table found")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("SheetJS_test_files/wps/fn.et", "xls"),  # WPS native, an OLE/BIFF8 file by content
        ("SheetJS_test_files/sheet_visibility5.xls", "xls"),  # BIFF5
        ("SheetJS_test_files/merge_cells.ods", "ods"),
        ("okfn_messytables/horror/bian-anal-mca-2005-dols-eng-1011-0312-tab3.xlsm", "xlsx"),
        ("alibaba_easyexcel/easyexcel-test/src/test/resources/compatibility/t04.xlsx", "xlsx"),
        ("okfn_messytables/horror/utf-16le_encoded.csv", "csv"),
        ("dromara_hutool/hutool-core/src/test/resources/test_lines_cr.csv", "csv"),
    ],
)
def test_sniffed_formats(corpus: Path, name: str, fmt: str) -> None:
    assert sniff_format(corpus / name) == fmt


def test_big5_is_not_read_as_gb_mojibake(corpus: Path) -> None:
    text, encoding = decode_text((corpus / "okfn_messytables/horror/characters.csv").read_bytes())
    assert encoding == "Big5"
    assert "景點編號" in text


def test_bom_and_gbk_variants_decode_alike(corpus: Path) -> None:
    bom = (corpus / "alibaba_easyexcel/easyexcel-test/src/test/resources/bom/office_bom.csv").read_bytes()
    plain = (corpus / "alibaba_easyexcel/easyexcel-test/src/test/resources/bom/no_bom.csv").read_bytes()
    assert bom.startswith(b"\xef\xbb\xbf")
    text, encoding = decode_text(plain)
    assert (text, encoding) == (decode_text(bom)[0], "UTF-8")
    assert decode_text(bom)[1] == "UTF-8 (BOM)"
    assert decode_text(text.encode("gbk")) == (text, "GBK")  # what Excel zh-CN "CSV" would write
    assert "姓名" in text


def test_keyword_lookalike_headings_are_not_a_report(corpus: Path) -> None:
    # Tencent Docs export: 序号 | ID号 | … | eblock编码 | PCS编码 | 调试状态 — one synonym and two
    # keyword look-alikes are not enough to take a device list for a progress report.
    path = corpus / "alibaba_easyexcel/easyexcel-test/src/test/resources/compatibility/t04.xlsx"
    with pytest.raises(SubmissionUnreadable, match="no report table found"):
        read_tables(path)


def test_a_rust_panic_in_calamine_becomes_a_reason(corpus: Path, tmp_path: Path) -> None:
    # 22 bytes overwritten in a BIFF5 formula make calamine panic (pyo3 PanicException is a
    # BaseException); the damaged copy is written to tmp_path, the corpus file is untouched.
    data = bytearray((corpus / "SheetJS_test_files/sheet_visibility5.xls").read_bytes())
    data[8616:8638] = bytes.fromhex("aa6175fc4482c91eb65c479b2141f82504390a037f0c")
    damaged = tmp_path / "damaged.xls"
    damaged.write_bytes(bytes(data))
    with pytest.raises(SubmissionUnreadable) as info:
        read_tables(damaged)
    assert "damaged" in info.value.reason_en
    assert "损坏" in info.value.reason_zh


def _outcome(found: list[SheetTable] | SubmissionUnreadable) -> object:
    if isinstance(found, SubmissionUnreadable):
        return ("refused", found.reason_en, found.reason_zh)
    return found  # SheetTables compare field by field, rows included


def test_the_corpus_read_as_one_chunk_gives_what_each_file_read_alone_gives(corpus: Path) -> None:
    """``read_many`` opens every file, then looks for every table: the same answers, in order,
    as ``read_tables`` file by file — refusals included, whatever the step that refused."""
    files = _files(corpus)
    alone: list[object] = []
    for path in files:
        try:
            alone.append(_outcome(read_tables(path)))
        except SubmissionUnreadable as exc:
            alone.append(_outcome(exc))
    together = [_outcome(found) for found in read_many([(p, p.read_bytes()) for p in files])]
    assert together == alone
    assert {type(a) for a in alone} == {tuple, list}  # both kinds of answer are in the chunk
