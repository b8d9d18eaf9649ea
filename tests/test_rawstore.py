"""The raw store keeps every received file whole, once, under its hash (``duban.collect.rawstore``)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from duban.collect.rawstore import keep_raw, raw_path


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_file_is_kept_once_under_its_hash_with_its_suffix(tmp_path: Path) -> None:
    data = b"PK\x03\x04 a workbook"
    src = tmp_path / "inbox" / "市大数据局.XLSX"
    src.parent.mkdir()
    src.write_bytes(data)
    kept = keep_raw(tmp_path / "home", src, _sha(data), data)
    assert kept == tmp_path / "home" / "raw" / _sha(data)[:2] / f"{_sha(data)}.xlsx"
    assert kept.read_bytes() == data
    before = kept.stat().st_mtime_ns
    assert keep_raw(tmp_path / "home", src, _sha(data), data) == kept  # again: found, not rewritten
    assert kept.stat().st_mtime_ns == before
    from_disk = tmp_path / "inbox" / "copy.xlsx"
    shutil.copyfile(src, from_disk)
    assert keep_raw(tmp_path / "home2", from_disk, _sha(data)).read_bytes() == data  # copied, not given


@pytest.mark.parametrize("left", [b"", b"PK\x03", b"PK\x03\x04 a workbooX"])
def test_a_copy_left_short_or_wrong_by_a_crash_is_written_again(tmp_path: Path, left: bytes) -> None:
    data = b"PK\x03\x04 a workbook"
    src = tmp_path / "r.xlsx"
    src.write_bytes(data)
    dest = raw_path(tmp_path / "home", src, _sha(data))
    dest.parent.mkdir(parents=True)
    dest.write_bytes(left)  # what a writer killed mid-way leaves under the final name
    assert keep_raw(tmp_path / "home", src, _sha(data), data).read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temporary file left


def test_a_raw_store_removed_during_a_run_is_made_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first, second = b"one", b"two"
    src = tmp_path / "a.csv"
    keep_raw(home, src, "ab" + _sha(first)[2:], first)
    shutil.rmtree(home / "raw")  # an operator clears the folder while the process remembers it
    again = keep_raw(home, src, "ab" + _sha(second)[2:], second)
    assert again.read_bytes() == second


def test_a_failed_write_leaves_no_copy_under_the_final_name(tmp_path: Path) -> None:
    src = tmp_path / "gone.xlsx"  # the caller did not read it and it has vanished meanwhile
    with pytest.raises(FileNotFoundError):
        keep_raw(tmp_path / "home", src, "c" * 64)
    assert not raw_path(tmp_path / "home", src, "c" * 64).exists()
