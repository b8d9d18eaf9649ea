"""PDF by LibreOffice from the bulletin's docx: its text has the metrics' totals; no soffice → None."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import duban.bulletin
from duban.bulletin import build_bulletin, compute_metrics, convert_to_pdf, render_docx, write_summary
from duban.bulletin.pdf import start_pdf
from duban.settings import RatingConfig
from tests.fixtures.bulletin.quarter import EXPECTED, quarter

IN_CI = os.environ.get("CI", "").lower() == "true"


def _need(tool: str) -> None:
    if shutil.which(tool):
        return
    message = f"{tool} is not installed (apt-get install libreoffice-writer poppler-utils fonts-noto-cjk)"
    if IN_CI:
        pytest.fail(f"required under CI=true: {message}")
    pytest.skip(message)


@pytest.mark.soffice
@pytest.mark.slow
def test_pdf_text_has_the_totals_and_several_pages(tmp_path: Path) -> None:
    _need("soffice")
    _need("pdftotext")
    facts = quarter()
    m = compute_metrics(facts, RatingConfig())
    docx = render_docx(build_bulletin(facts, m), tmp_path / "2026Q4_季度通报.docx")
    pdf = convert_to_pdf(docx, tmp_path / "pdf")
    assert pdf == tmp_path / "pdf" / "2026Q4_季度通报.pdf"
    raw = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert raw.count("\f") > 1  # more than one page
    text = re.sub(r"\s+", "", raw)
    for phrase in (
        "本期纳入统计的工作任务共6项",
        "已完成2项，占33.3%",
        "牵头单位未报送1项，占16.7%",
        "应报送9项，按时报送5项，迟报2项，未报送2项，按时报送率55.6%",
        "附件1",
        "各单位报送情况表",
    ):
        assert phrase in text, phrase
    assert f"— {raw.count(chr(12))} —".replace(" ", "") in text  # the last page's number field
    for unit, row in EXPECTED["units"].items():
        assert unit in text and row[7] in text


def test_missing_soffice_gives_none_and_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    docx = tmp_path / "x.docx"
    docx.write_bytes(b"not used")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with caplog.at_level(logging.WARNING, logger="duban.bulletin.pdf"):
        assert convert_to_pdf(docx, tmp_path) is None
    assert "soffice" in caplog.text and "apt-get install" in caplog.text
    assert not (tmp_path / "x.pdf").exists()


def test_failed_conversion_gives_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A stand-in soffice that fails the way a broken installation does (exit 1, message on stderr).
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "soffice"
    fake.write_text("#!/bin/sh\necho 'Error: source file could not be loaded' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    docx = tmp_path / "x.docx"
    docx.write_bytes(b"PK")
    with caplog.at_level(logging.ERROR, logger="duban.bulletin.pdf"):
        assert convert_to_pdf(docx, tmp_path / "out") is None
    assert "could not be loaded" in caplog.text and "exit 1" in caplog.text


def _fake_soffice(bindir: Path, body: str) -> None:
    """A stand-in ``soffice`` on PATH running ``body`` (sh) with the real one's arguments."""
    bindir.mkdir(exist_ok=True)
    fake = bindir / "soffice"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)


#: Writes <outdir>/<stem>.pdf from the last argument, as soffice --convert-to pdf does.
_CONVERTS = """out=""; prev=""
for a in "$@"; do [ "$prev" = "--outdir" ] && out="$a"; prev="$a"; last="$a"; done
[ -s "$last" ] || exit 3
printf '%%PDF-1.4 converted from %s' "$(basename "$last")" > "$out/$(basename "$last" .docx).pdf"
"""


def _gone(pid: int, within: float = 10) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_write_summary_converts_while_writing_the_other_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_soffice(tmp_path / "bin", _CONVERTS)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out = write_summary(quarter(), RatingConfig(), tmp_path / "out")
    assert out["pdf"] == tmp_path / "out" / "2026Q4_季度通报.pdf"
    assert out["pdf"].read_text() == "%PDF-1.4 converted from 2026Q4_季度通报.docx"
    assert {"docx", "html", "xlsx"} <= out.keys()


@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_a_stuck_conversion_is_killed_with_its_process_group(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pidfile = tmp_path / "child.pid"
    _fake_soffice(tmp_path / "bin", f"sleep 60 &\necho $! > '{pidfile}'\nwait\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    docx = tmp_path / "x.docx"
    docx.write_bytes(b"PK")
    started = time.monotonic()
    job = start_pdf(docx, tmp_path / "out", timeout=1 if how == "timeout" else 60)
    assert job is not None
    deadline = time.monotonic() + 10
    while not (pidfile.is_file() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeper = int(pidfile.read_text())
    with caplog.at_level(logging.ERROR, logger="duban.bulletin.pdf"):
        if how == "timeout":
            assert job.result() is None
            assert "timed out" in caplog.text
        else:
            job.cancel()
    assert time.monotonic() - started < 30
    assert _gone(sleeper), "soffice's own children must die with it"
    assert not (tmp_path / "out" / "x.pdf").exists()


def test_a_failed_bulletin_leaves_no_libreoffice_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = tmp_path / "child.pid"
    _fake_soffice(tmp_path / "bin", f"sleep 60 &\necho $! > '{pidfile}'\nwait\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")

    def broken(*args, **kwargs):
        while not (pidfile.is_file() and pidfile.read_text().strip()):
            time.sleep(0.05)  # LibreOffice has started
        raise OSError("disk full")

    monkeypatch.setattr(duban.bulletin, "render_xlsx", broken)
    started = time.monotonic()
    with pytest.raises(OSError, match="disk full"):
        write_summary(quarter(), RatingConfig(), tmp_path / "out")
    assert time.monotonic() - started < 30  # not the conversion's 180 s timeout
    assert _gone(int(pidfile.read_text()))
