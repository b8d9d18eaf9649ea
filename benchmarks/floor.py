"""What the hardware allows, and what a naive script costs — the two yardsticks for collection.

- ``read_floor``: python-calamine opening every file and turning every sheet into Python rows,
  nothing else, in a process pool with one worker per core. CSV files are decoded (UTF-8, else
  GBK) and split with the csv module, which is the least any reader must do with them.
- ``naive_baseline``: what one writes without duban — ``pandas.read_excel`` with openpyxl per
  file (.xls with pandas' calamine engine: openpyxl cannot read .xls and xlrd is not installed),
  ``pandas.read_csv`` for CSV, one concat and a merge against the expected assignments. On a
  sample of files when there are many, extrapolated per file (the output says so).
- ``smtp_floor``: a bare smtplib loop sending the very bytes duban sent, over one connection.
"""

from __future__ import annotations

import csv
import io
import os
import random
import resource
import smtplib
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

__all__ = ["naive_baseline", "read_floor", "rss_mb", "smtp_floor"]


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size of this process (or its waited-for children), in MB (Linux: KB units)."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def _read_one(path: str) -> int:
    if path.lower().endswith((".csv", ".tsv", ".txt")):
        with open(path, "rb") as fh:
            return len(list(csv.reader(io.StringIO(_decode(fh.read())))))
    import python_calamine as pc

    rows = 0
    with pc.CalamineWorkbook.from_path(path) as wb:
        for name in wb.sheet_names:
            rows += len(wb.get_sheet_by_name(name).to_python())
    return rows


def _read_chunk(paths: list[str]) -> tuple[int, float]:
    return sum(_read_one(p) for p in paths), rss_mb()


def _warm(_: int) -> float:
    import python_calamine  # noqa: F401 - imported before the clock starts

    return rss_mb()


def read_floor(paths: list[Path], workers: int | None = None) -> dict[str, Any]:
    """Read every file with calamine on ``workers`` processes (default: all cores); time the reads."""
    workers = workers or os.cpu_count() or 1
    names = [str(p) for p in paths]
    chunks = [names[i : i + 25] for i in range(0, len(names), 25)]
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        list(pool.map(_warm, range(workers * 2)))  # processes started and calamine imported: not timed
        started = time.perf_counter()
        results = list(pool.map(_read_chunk, chunks))
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "files": len(names),
        "rows": sum(r for r, _ in results),
        "workers": workers,
        "worker_rss_mb": max((m for _, m in results), default=0.0),
    }


def _naive_frame(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = path.read_bytes()
        try:
            raw.decode("utf-8-sig")
            encoding = "utf-8-sig"
        except UnicodeDecodeError:
            encoding = "gb18030"
        df = pd.read_csv(io.BytesIO(raw), header=1, encoding=encoding, dtype=str)
    else:
        engine = "openpyxl" if suffix in (".xlsx", ".xlsm") else "calamine"
        df = pd.read_excel(path, sheet_name=0, header=2, engine=engine, dtype=str)
    unit = path.name.split("_")[1] if path.name.count("_") >= 2 else path.stem
    return df.rename(columns={"任务编码": "item_id"}).assign(unit=unit)


def naive_baseline(
    paths: list[Path], expected: list[tuple[str, str]], *, sample: int = 200
) -> dict[str, Any]:
    """pandas per file (``sample`` of them when there are more) + one merge; see the module docstring."""
    import pandas as pd

    chosen = list(paths) if len(paths) <= sample else random.Random(7).sample(list(paths), sample)
    started = time.perf_counter()
    frames = []
    failed = 0
    for p in chosen:
        try:
            frames.append(_naive_frame(p))
        except Exception:  # a naive script would crash here; count it and go on
            failed += 1
    read_s = time.perf_counter() - started
    t = time.perf_counter()
    got = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["unit", "item_id"])
    exp = pd.DataFrame(expected, columns=["item_id", "unit"])
    merged = exp.merge(
        got[["unit", "item_id", "完成状态"]], on=["unit", "item_id"], how="left", indicator=True
    )
    missing = int((merged["_merge"] == "left_only").sum())
    merge_s = time.perf_counter() - t
    factor = len(paths) / max(len(chosen), 1)
    return {
        "seconds": read_s * factor + merge_s,
        "read_s_sample": read_s,
        "merge_s": merge_s,
        "files_read": len(chosen),
        "files_total": len(paths),
        "extrapolated": len(chosen) < len(paths),
        "failed": failed,
        "rows": int(sum(len(f) for f in frames)),
        "missing_pairs_in_sample_merge": missing,
        "rss_mb": rss_mb(),
    }


def smtp_floor(messages: list[tuple[str, list[str], bytes]], host: str, port: int) -> dict[str, Any]:
    """Send each (from, recipients, bytes) with smtplib over one connection; wall clock."""
    started = time.perf_counter()
    with smtplib.SMTP(host, port, timeout=30) as conn:
        conn.ehlo()
        for mail_from, rcpts, data in messages:
            conn.sendmail(mail_from, rcpts, data)
    return {"seconds": time.perf_counter() - started, "messages": len(messages)}
