"""Read one untrusted file the way collect does, in a fenced child: memory bound, time bound, verdict.

Why a separate process: a hostile file must not take the campaign down with it — a Rust
``abort`` on a failed allocation, a hang in native code or the OOM killer would end any
in-process harness. ``python -m hardening.probe`` imports the reader, the unit directory and
the seed catalogue once, then for each line ``path<TAB>limit_mb<TAB>timeout_s`` on stdin
forks a child that sets ``RLIMIT_AS`` (its current size plus ``limit_mb``) and an alarm
(the default SIGALRM action kills it even inside native code), runs ``read_tables`` and
then what ``collect_file`` runs next on every table (``identify`` and ``validate_table``),
and reports. The worker answers one JSON line per file::

    {"outcome": "read" | "empty" | "rejected" | "crash" | "oom" | "abort" | "timeout",
     "reason": "...", "seconds": 0.12, "peak_mb": 3.5, "tables": 1, "rows": 12}

``peak_mb`` is the child's peak resident memory (``ru_maxrss`` from ``wait4``) above the
worker's resident size at the fork.
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from connectors.spreadsheets import read_tables
from duban.collect.identify import identify
from duban.collect.validate import validate_table
from duban.errors import SubmissionUnreadable

__all__ = ["OUTCOMES", "main", "probe_in_process"]

OUTCOMES = ("read", "empty", "rejected", "crash", "oom", "abort", "timeout")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _world() -> tuple[Any, Any]:
    """The unit directory and the seed catalogue, as collect sees them (no store needed)."""
    from duban.catalogue.parse import parse_document
    from duban.settings import Settings
    from duban.units import UnitDirectory, resolve_catalogue

    settings = Settings()
    directory = UnitDirectory.load(settings.units_path)
    catalogue, _ = resolve_catalogue(parse_document(settings.plan_path), directory)
    return directory, catalogue


def probe_in_process(path: Path, directory: Any, catalogue: Any) -> dict[str, Any]:
    """The verdict on ``path`` without a fence (the child's body; also usable in tests)."""
    try:
        tables = read_tables(path)
    except SubmissionUnreadable as exc:
        if "MemoryError" in exc.reason_en:
            return {"outcome": "oom", "reason": exc.reason_en}
        if not exc.reason_en.strip() or not exc.reason_zh.strip():
            return {"outcome": "crash", "reason": f"rejected without a reason: {exc!r}"}
        return {"outcome": "rejected", "reason": exc.reason_en}
    except MemoryError as exc:
        return {"outcome": "oom", "reason": f"MemoryError escaped read_tables: {exc}"}
    except Exception as exc:  # the promise is that nothing else escapes
        return {"outcome": "crash", "reason": f"read_tables raised {type(exc).__name__}: {exc}"[:500]}
    rows = 0
    try:
        for table in tables:
            ident = identify(table, directory, filename=path.name)
            if ident.unit and ident.period:
                validate_table(table, catalogue, ident.unit, ident.period)
            rows += len(table.rows)
    except Exception as exc:  # collect_file does not guard these: a raise here stops a batch
        return {"outcome": "crash", "reason": f"identify/validate raised {type(exc).__name__}: {exc}"[:500]}
    return {"outcome": "read" if tables else "empty", "reason": "", "tables": len(tables), "rows": rows}


def _probe(path: Path, limit_mb: int, timeout_s: float, directory: Any, catalogue: Any) -> dict[str, Any]:
    rd, wr = os.pipe()
    base_rss_kb = _status_kb("VmRSS")
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the fenced child
        os.close(rd)
        try:
            faulthandler.disable()  # an abort here is a verdict, not a traceback worth printing
            size = _status_kb("VmSize") * 1024 + (limit_mb << 20)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(max(1, int(timeout_s + 0.999)))
            out = probe_in_process(path, directory, catalogue)
        except BaseException as exc:  # even the fence failing is a verdict
            out = {"outcome": "crash", "reason": f"probe failed: {type(exc).__name__}: {exc}"}
        os.write(wr, json.dumps(out, ensure_ascii=False, default=str).encode())
        os._exit(0)
    os.close(wr)
    chunks = []
    while chunk := os.read(rd, 65536):
        chunks.append(chunk)
    os.close(rd)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    peak_mb = max(0.0, (usage.ru_maxrss - base_rss_kb) / 1024)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        kind = "timeout" if sig == signal.SIGALRM else "abort"
        out = {"outcome": kind, "reason": f"killed by {signal.Signals(sig).name} after {seconds:.1f}s"}
    else:
        try:
            out = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            out = {"outcome": "crash", "reason": "no verdict from the child"}
    out.update(seconds=round(seconds, 4), peak_mb=round(peak_mb, 1))
    return out


def main() -> None:
    directory, catalogue = _world()
    print("probe ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        path, limit_mb, timeout_s = line.rstrip("\n").split("\t")
        out = _probe(Path(path), int(limit_mb), float(timeout_s), directory, catalogue)
        print(json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
