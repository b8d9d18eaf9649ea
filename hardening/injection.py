"""Injection checks on what the hostile quarter left behind.

- formulas: no cell of any .xlsx duban wrote (templates, ledger, bulletin appendix, the
  templates attached to notices) is a formula or a hyperlink, and formula-like text carries
  Excel's quote prefix (so it stays text when someone edits the cell). duban writes no CSV
  (stated, not assumed: the run is searched for .csv files it made);
- markup: the HTML of every notice and of the bulletin holds hostile text only escaped — no
  script, image, SVG or event-handler tag, no link to the attacker's host; the .docx has no
  hyperlink;
- paths: every file lands where it was asked to; names built from unit names, API record ids
  or periods never climb out (nothing named ``PWNED`` outside the expected folders, here or in
  /tmp or the repository); attachment names carry no path;
- names: every hostile unit name comes back byte-exact from every query (status, outbox,
  ledger, findings) and never injects a header into a message.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import tempfile
import time
import zipfile
from pathlib import Path

from duban.settings import REPO_ROOT
from hardening.hostile import MARKER, NAMES, HostileRun, discard, run_hostile
from hardening.report import CampaignResult
from hardening.world import World

__all__ = ["check_formulas", "check_markup", "check_names", "check_paths", "injection"]

_FORMULA_START = ("=", "+", "-", "@")
_BAD_TAG = re.compile(
    r"<\s*(script|svg|iframe|object|embed)\b|<\s*img\b(?![^>]*src=\"data:image/png;base64,)|<[^>]*\son\w+\s*=|"
    r"<a\b[^>]*href\s*=\s*[\"']?\s*(javascript:|https?://evil)",
    re.I,
)


def _emls(run: HostileRun) -> list[Path]:
    return sorted(run.maildir.glob("*.eml")) + sorted(run.outbox.glob("*.eml"))


def _attachments(run: HostileRun) -> list[tuple[str, bytes]]:
    out = []
    for path in _emls(run):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for part in msg.walk():
            if part.get_filename():
                out.append((f"{path.name}:{part.get_filename()}", part.get_payload(decode=True) or b""))
    return out


def check_formulas(files: list[tuple[str, bytes]]) -> tuple[int, int, list[str]]:
    """(cells checked, formula-like text cells seen, problems) over .xlsx contents."""
    import openpyxl

    cells = hostile = 0
    problems: list[str] = []
    for name, data in files:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for part in z.namelist():
                body = z.read(part)
                if part.startswith("xl/worksheets/sheet") and re.search(rb"<f[ >/]", body):
                    problems.append(f"{name}: {part} holds a formula")
                if part.startswith("xl/worksheets/_rels/") and b"hyperlink" in body:
                    problems.append(f"{name}: {part} holds a hyperlink")
        wb = openpyxl.load_workbook(io.BytesIO(data))
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    if c.value is None:
                        continue
                    cells += 1
                    if c.data_type == "f":
                        problems.append(f"{name}: {ws.title}!{c.coordinate} is a formula")
                    elif isinstance(c.value, str) and c.value.startswith(_FORMULA_START):
                        hostile += 1
                        if ws.title != "_duban" and not c.quotePrefix:
                            problems.append(
                                f"{name}: {ws.title}!{c.coordinate} {c.value[:20]!r} has no quote prefix"
                            )
    return cells, hostile, problems


def check_markup(run: HostileRun) -> tuple[int, int, list[str]]:
    """(documents checked, escaped hostile snippets seen, problems) over notice HTML, bulletin HTML, docx."""
    problems: list[str] = []
    docs: list[tuple[str, str]] = []
    for path in _emls(run):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for part in msg.walk():
            if part.get_content_type() == "text/html":
                docs.append((path.name, part.get_content()))
    if "html" in run.bulletin:
        docs.append((run.bulletin["html"].name, run.bulletin["html"].read_text(encoding="utf-8")))
    escaped = 0
    for name, html in docs:
        if m := _BAD_TAG.search(html):
            problems.append(f"{name}: live markup {m.group(0)[:60]!r}")
        escaped += html.count("&lt;script&gt;") + html.count("&lt;a href=")
    if "docx" in run.bulletin:
        with zipfile.ZipFile(run.bulletin["docx"]) as z:
            for part in z.namelist():
                body = z.read(part)
                if b"<w:hyperlink" in body or (b"evil.example" in body and part.endswith(".rels")):
                    problems.append(f"{run.bulletin['docx'].name}: {part} links out")
        docs.append(("docx", ""))
    return len(docs), escaped, problems


def check_paths(run: HostileRun, before: set[Path]) -> tuple[int, list[str]]:
    """(files written, problems): nothing outside its folder, nothing climbing out anywhere."""
    problems: list[str] = []
    expected = [run.out / "templates", run.out / "returns", run.maildir, run.outbox, run.home / "raw"]
    files = [p for p in run.root.rglob("*") if p.is_file()]
    for p in files:
        rel = p.relative_to(run.root)
        if MARKER in str(rel) and not any(p.parent == d for d in expected):
            problems.append(f"{rel}: a hostile name decided where this file went")
        if ".." in rel.parts:
            problems.append(f"{rel}: path climbs out")
    for p in _outside_markers() - before:
        problems.append(f"{p}: written outside the run by a hostile name")
    for name, _data in _attachments(run):
        fname = name.split(":", 1)[1]
        if "/" in fname or "\\" in fname or fname.startswith(".") or "\r" in fname or "\n" in fname:
            problems.append(f"{name}: attachment name carries a path")
    return len(files), problems


def _outside_markers() -> set[Path]:
    found: set[Path] = set()
    for root in (Path(tempfile.gettempdir()), REPO_ROOT, REPO_ROOT.parent):
        found |= {p for p in root.iterdir() if MARKER in p.name}
    return found


def check_names(run: HostileRun) -> tuple[int, list[str]]:
    """(names checked, problems): byte-exact round trips through status, outbox, ledger, findings, mail."""
    import openpyxl
    from sqlalchemy import text

    from duban.store.db import Store

    problems: list[str] = []
    names = set(NAMES)
    status_units = {s.unit for s in run.status}
    if status_units != names:
        problems.append(f"status: units differ: {sorted(status_units ^ names)[:3]}")
    store = Store(run.url)
    try:
        with store.engine.connect() as c:
            owing = {s.unit for s in run.status if s.missing or s.invalid}
            noticed = {u for (u,) in c.execute(text("select unit from notice where stage = 'due'"))}
            if noticed - names:
                problems.append(f"outbox: unit names changed on the way: {sorted(noticed - names)[:3]}")
            if owing - noticed:
                problems.append(
                    f"outbox: owing units without a due notice row: {sorted(owing - noticed)[:3]}"
                )
            for name in names:
                n = c.execute(
                    text("select count(*) from assignment where unit = :u"), {"u": name}
                ).scalar_one()
                if not n:
                    problems.append(f"{name!r}: no assignment found by an exact query")
            missing_units = {u for (u,) in c.execute(text("select unit from finding where kind = 'missing'"))}
            if missing_units - names:
                problems.append(f"findings: unit names changed: {sorted(missing_units - names)[:3]}")
    finally:
        store.dispose()
    wb = openpyxl.load_workbook(run.out / "ledger.xlsx", read_only=True)
    ws = wb.worksheets[0]
    header = [c for c in next(ws.iter_rows(values_only=True))]
    col = header.index("单位")
    ledger_units = {_unescape(r[col]) for r in ws.iter_rows(min_row=2, values_only=True)}
    wb.close()
    if ledger_units != names:
        problems.append(f"ledger: units differ: {sorted(map(repr, ledger_units ^ names))[:3]}")
    for path in _emls(run):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg.get_all("Bcc") or "spy@evil.example" in str(msg.get("To", "")) + str(msg.get("Cc", "")):
            problems.append(f"{path.name}: a unit name injected a recipient header")
    return len(names), problems


def _unescape(value: str) -> str:
    """Excel's ``_xHHHH_`` escapes (how .xlsx stores control characters) back to characters."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def injection(world: World, root: Path, *, backends: tuple[str, ...] = ("sqlite",)) -> CampaignResult:
    res = CampaignResult(
        "injection: formulas, markup, paths, names",
        f"{len(NAMES)} hostile unit names, formula/markup task titles and narratives, path-like API ids and "
        "periods, through templates, collect, reconcile, notices, ledger, bulletin",
    )
    started = time.monotonic()
    before = _outside_markers()
    for backend in backends:
        run = run_hostile(world, root / f"hostile-{backend}", backend=backend)
        try:
            files = [(p.name, p.read_bytes()) for p in run.xlsx] + _attachments(run)
            cells, formula_like, p1 = check_formulas(files)
            docs, escaped, p2 = check_markup(run)
            written, p3 = check_paths(run, before)
            names, p4 = check_names(run)
            csvs = [p for p in run.out.rglob("*.csv") if "returns" not in p.parts]
            p5 = [f"duban wrote a CSV: {p.name}" for p in csvs]
            failed = [line for r in run.notices.values() for line in r.lines if ": failed" in line]
            for p in p1 + p2 + p3 + p4 + p5:
                res.problem(f"{backend}: {p}")
            res.trials += 1
            res.notes.append(
                f"{backend}: {len(files)} workbooks, {cells} cells ({formula_like} formula-like texts, "
                f"0 formulas expected); {docs} HTML/docx documents ({escaped} escaped hostile snippets); "
                f"{written} files written; {names} hostile names round-tripped; notices refused to build: "
                f"{'; '.join(failed) or 'none'}"
            )
            if not formula_like or not escaped:
                res.problem(f"{backend}: hostile text never reached the outputs; the check proves nothing")
        finally:
            discard(run)
    res.seconds = time.monotonic() - started
    return res
