"""PDF from the bulletin's docx, converted by LibreOffice headless when it is installed.

LibreOffice is an optional system dependency (``apt-get install libreoffice-writer
fonts-noto-cjk`` on Debian/Ubuntu): without it, or when the conversion fails or times out,
``convert_to_pdf`` logs why and returns ``None`` so the other formats are still delivered.
Each call runs with its own throw-away user profile (``-env:UserInstallation``), because two
soffice processes sharing a profile block or fail each other.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["SOFFICE_HINT", "PdfJob", "convert_to_pdf", "find_soffice", "start_pdf"]

log = logging.getLogger(__name__)

SOFFICE_HINT = (
    "LibreOffice (soffice) not found; install it to get the PDF "
    "(Debian/Ubuntu: apt-get install libreoffice-writer fonts-noto-cjk; "
    "macOS: brew install --cask libreoffice)"
)


def find_soffice() -> str | None:
    """The soffice executable on PATH (``soffice`` or ``libreoffice``), if any."""
    return shutil.which("soffice") or shutil.which("libreoffice")


class PdfJob:
    """A LibreOffice conversion running in its own process group; ``result`` waits for it.

    Started as soon as the docx exists, so the other renderers (HTML, xlsx) run meanwhile on
    the other core. Output goes to files, not pipes: nobody reads a pipe while it runs.
    """

    def __init__(
        self, docx: Path, target: Path, cmd: list[str], profile: tempfile.TemporaryDirectory, timeout: float
    ) -> None:
        self.docx, self.target, self.timeout = docx, target, timeout
        self._profile = profile
        self._log = (Path(profile.name) / "soffice.log").open("w+", encoding="utf-8", errors="replace")
        self._started = time.monotonic()
        try:
            # Its own session, so a timeout kills soffice.bin too, not only the soffice wrapper.
            self._child = subprocess.Popen(
                cmd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError:
            self._log.close()
            raise

    def cancel(self) -> None:
        """Stop the conversion (its whole process group) and clean up; nothing is returned."""
        if self._child.poll() is None:
            os.killpg(self._child.pid, signal.SIGKILL)
        self._child.wait()
        self._log.close()
        self._profile.cleanup()

    def result(self) -> Path | None:
        """The PDF, or ``None`` with the reason logged (failed, or not done within the timeout)."""
        try:
            left = max(0.0, self.timeout - (time.monotonic() - self._started))
            try:
                code = self._child.wait(timeout=left)
            except subprocess.TimeoutExpired:
                os.killpg(self._child.pid, signal.SIGKILL)
                self._child.wait()
                log.error("PDF conversion of %s timed out after %.0f s", self.docx.name, self.timeout)
                return None
            self._log.seek(0)
            detail = self._log.read().strip()[-500:]
        finally:
            self._log.close()
            self._profile.cleanup()
        if code != 0 or not self.target.is_file():
            log.error("PDF conversion of %s failed (exit %s): %s", self.docx.name, code, detail)
            return None
        log.info("PDF written: %s", self.target)
        return self.target


def start_pdf(docx: Path, out_dir: Path, *, timeout: float = 180) -> PdfJob | None:
    """Start converting ``docx`` to ``out_dir/<stem>.pdf``; ``None`` (reason logged) if it cannot start."""
    docx = Path(docx).resolve()
    out_dir = Path(out_dir).resolve()
    soffice = find_soffice()
    if soffice is None:
        log.warning(SOFFICE_HINT)
        return None
    if not docx.is_file():
        log.error("PDF conversion skipped: %s does not exist", docx)
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{docx.stem}.pdf"
    target.unlink(missing_ok=True)  # never mistake an old PDF for this run's output
    profile = tempfile.TemporaryDirectory(prefix="duban-lo-")
    cmd = [
        soffice,
        f"-env:UserInstallation={Path(profile.name).as_uri()}",
        "--headless",
        "--norestore",
        "--nolockcheck",
        "--convert-to",
        "pdf:writer_pdf_Export",
        "--outdir",
        str(out_dir),
        str(docx),
    ]
    try:
        return PdfJob(docx, target, cmd, profile, timeout)
    except OSError as exc:
        profile.cleanup()
        log.error("PDF conversion of %s could not start %s: %s", docx.name, soffice, exc)
        return None


def convert_to_pdf(docx: Path, out_dir: Path, *, timeout: float = 180) -> Path | None:
    """Convert ``docx`` to ``out_dir/<stem>.pdf``; ``None`` (reason logged) when that is not possible."""
    job = start_pdf(docx, out_dir, timeout=timeout)
    return job.result() if job is not None else None
