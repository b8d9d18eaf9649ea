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
from pathlib import Path

__all__ = ["SOFFICE_HINT", "convert_to_pdf", "find_soffice"]

log = logging.getLogger(__name__)

SOFFICE_HINT = (
    "LibreOffice (soffice) not found; install it to get the PDF "
    "(Debian/Ubuntu: apt-get install libreoffice-writer fonts-noto-cjk; "
    "macOS: brew install --cask libreoffice)"
)


def find_soffice() -> str | None:
    """The soffice executable on PATH (``soffice`` or ``libreoffice``), if any."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_to_pdf(docx: Path, out_dir: Path, *, timeout: float = 180) -> Path | None:
    """Convert ``docx`` to ``out_dir/<stem>.pdf``; ``None`` (reason logged) when that is not possible."""
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
    with tempfile.TemporaryDirectory(prefix="duban-lo-") as profile:
        cmd = [
            soffice,
            f"-env:UserInstallation={Path(profile).as_uri()}",
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
            # Its own session, so a timeout kills soffice.bin too, not only the soffice wrapper.
            with subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
            ) as child:
                try:
                    out, err = child.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.communicate()
                    log.error("PDF conversion of %s timed out after %.0f s", docx.name, timeout)
                    return None
            proc = subprocess.CompletedProcess(cmd, child.returncode, out, err)
        except OSError as exc:
            log.error("PDF conversion of %s could not start %s: %s", docx.name, soffice, exc)
            return None
    if proc.returncode != 0 or not target.is_file():
        detail = (proc.stderr or proc.stdout or "").strip()[-500:]
        log.error("PDF conversion of %s failed (exit %s): %s", docx.name, proc.returncode, detail)
        return None
    log.info("PDF written: %s", target)
    return target
