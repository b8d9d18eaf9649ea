"""Ratios against the targets of issue 7, and the tables ``make bench`` prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["growth", "print_report", "targets"]

GROWTH_SCALES = ("tiny", "city", "1000", "province")
LINEAR_SCALES = ("city", "1000", "province")  # 500 → 5,000 units
LINEAR_TOLERANCE = 1.3  # per-unit time may vary by this factor and still count as linear


def _div(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def growth(result: dict[str, Any], out: Path) -> list[dict[str, Any]]:
    """Per-unit figures of every scale measured so far (this run replaces its own scale's file)."""
    rows = []
    for name in GROWTH_SCALES:
        r = result if name == result["scale"] else None
        if r is None and (out / f"{name}.json").exists():
            r = json.loads((out / f"{name}.json").read_text("utf-8"))
        if r is None:
            continue
        rows.append(
            {
                "scale": name,
                "units": r["units"],
                "files": r["files"],
                "cycle_inprocess_s": r["cycle_inprocess_s"],
                "cycle_prefect_s": r.get("cycle_prefect_s"),
                "per_unit_ms": 1000 * r["cycle_inprocess_s"] / r["units"],
                "collect_per_unit_ms": 1000 * r["collect_s"] / r["units"],
                "notices_per_unit_ms": 1000 * r["notices_s"] / r["units"],
                "peak_rss_mb": r["peak_rss_mb"],
                "when": r.get("when"),
            }
        )
    return rows


def targets(r: dict[str, Any], out: Path) -> dict[str, Any]:
    """The ratios issue 7 asks for, each with its target and whether this run met it."""
    # Prefect's overhead, measured inside the Prefect run: its wall time outside duban's jobs. The
    # difference between the two runs is kept too, but it also holds the machine's changing load.
    overhead = None if r["cycle_prefect_s"] is None else r["cycle_prefect_s"] - r["prefect_jobs_s"]
    between = None if r["cycle_prefect_s"] is None else r["cycle_prefect_s"] - r["cycle_inprocess_s"]
    rows = growth(r, out)
    per_unit = [g["per_unit_ms"] for g in rows if g["scale"] in LINEAR_SCALES]
    linear = max(per_unit) / min(per_unit) if len(per_unit) >= 2 else None
    checks = [
        ("collection / floor", _div(r["collect_files_s"], r["floor_s"]), "≤ 1.5", lambda v: v <= 1.5),
        ("naive / collection", _div(r["naive_s"], r["collect_files_s"]), "≥ 20", lambda v: v >= 20),
        ("Prefect overhead (s)", overhead, "≤ 3", lambda v: v <= 3),
        ("Prefect run − in-process run (s)", between, "(information)", lambda v: None),
        ("cycle via Prefect (s)", r["cycle_prefect_s"], "≤ 30 at province", lambda v: v <= 30),
        ("peak RSS (MB)", r["peak_rss_mb"], "≤ 1024", lambda v: v <= 1024),
        (
            "per-unit time, max/min over 500–5,000 units",
            linear,
            f"≤ {LINEAR_TOLERANCE}",
            lambda v: v <= LINEAR_TOLERANCE,
        ),
    ]
    table = []
    for name, value, target, ok in checks:
        applies = value is not None and (name != "cycle via Prefect (s)" or r["scale"] == "province")
        table.append({"name": name, "value": value, "target": target, "met": ok(value) if applies else None})
    return {
        "collection_over_floor": _div(r["collect_files_s"], r["floor_s"]),
        "naive_over_collection": _div(r["naive_s"], r["collect_files_s"]),
        "prefect_overhead_s": overhead,
        "prefect_minus_inprocess_s": between,
        "notices_over_smtp_floor": _div(r["notices_s"], r["smtp_floor_s"]),
        "per_unit_ms": 1000 * r["cycle_inprocess_s"] / r["units"],
        "per_unit_prefect_ms": None
        if r["cycle_prefect_s"] is None
        else 1000 * r["cycle_prefect_s"] / r["units"],
        "linearity_max_over_min": linear,
        "targets": table,
        "growth": rows,
    }


def _f(v: Any, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def print_report(r: dict[str, Any], out: Path, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # make's output, a log file: wide enough for the tables
            console = Console(width=120)
    m = r["machine"]
    console.rule(
        f"duban benchmark — {r['scale']}: {r['units']:,} units, {r['files']:,} files, "
        f"{r['api_records']:,} API records"
    )
    console.print(
        f"{m['cpus']} CPUs, load {m['load_before']} → {m['load_after']}; data "
        f"{'reused' if r['generation_reused'] else 'generated'} ({_f(r['generation_s'])} s, not counted); "
        f"git {r['git']}" + (f"; {r['label']}" if r.get("label") else "")
    )
    t = Table(title="wall clock")
    for col in ("stage", "seconds", "ms / unit", "note"):
        t.add_column(col, justify="right" if col in ("seconds", "ms / unit") else "left")
    naive_note = (
        f"{r['naive_files_read']} files read, extrapolated" if r["naive_extrapolated"] else "all files"
    )
    n = r["notices"] or {"sent": "—", "skipped": "—", "failed": "—"}
    rows = [
        ("floor: calamine, no processing", r["floor_s"], f"{r['floor_workers']} processes"),
        ("naive: pandas.read_excel + merge", r["naive_s"], naive_note),
        ("collect: files", r["collect_files_s"], "read, identify, validate, store"),
        ("collect: API", r["collect_api_s"], f"{r['api_records']:,} records from the loopback API"),
        ("reconcile (+ status)", r["reconcile_s"], ""),
        (
            "notices: render + send",
            r["notices_s"],
            f"sent {n['sent']}, skipped {n['skipped']}, failed {n['failed']}",
        ),
        (
            "sending floor: bare smtplib",
            r["smtp_floor_s"],
            f"{r['smtp_floor_messages']} messages, same bytes",
        ),
        (
            "bulletin (docx, PDF, HTML, xlsx, charts)",
            r["bulletin_s"],
            "" if r.get("bulletin_pdf", True) else "no PDF",
        ),
        ("cycle in-process", r["cycle_inprocess_s"], "all of the above that duban does"),
        (
            "cycle via Prefect flows",
            r["cycle_prefect_s"],
            f"server up in {_f(r['prefect_server_start_s'])} s; process {_f(r['prefect_process_s'])} s",
        ),
        ("  of which inside duban's jobs", r.get("prefect_jobs_s"), "the rest is Prefect's overhead"),
    ]
    for name, secs, note in rows:
        t.add_row(name, _f(secs), _f(None if secs is None else 1000 * secs / r["units"]), note)
    console.print(t)
    for where, error in r.get("errors", {}).items():
        console.print(f"[red]error[/] in {where}: {error}")
    rss = r["rss_mb"]
    console.print(
        f"peak RSS: in-process {_f(rss['inprocess'], 0)} MB, Prefect flow {_f(rss['prefect_flow'], 0)} MB, "
        f"Prefect server {_f(rss['prefect_server'], 0)} MB, naive {_f(rss['naive'], 0)} MB; "
        f"same results in both runs: {_f(r['same_results'])}"
    )
    g = Table(title="targets (issue 7)")
    for col in ("ratio", "value", "target", "met"):
        g.add_column(col)
    for row in r["ratios"]["targets"]:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "n/a"}[row["met"]]
        g.add_row(row["name"], _f(row["value"]), row["target"], met)
    console.print(g)
    s = Table(title="growth (every scale measured so far)")
    for col in (
        "scale",
        "units",
        "files",
        "cycle s",
        "Prefect s",
        "ms/unit",
        "collect ms/unit",
        "notices ms/unit",
    ):
        s.add_column(col, justify="right")
    for row in r["ratios"]["growth"]:
        s.add_row(
            row["scale"],
            f"{row['units']:,}",
            f"{row['files']:,}",
            _f(row["cycle_inprocess_s"]),
            _f(row["cycle_prefect_s"]),
            _f(row["per_unit_ms"]),
            _f(row["collect_per_unit_ms"]),
            _f(row["notices_per_unit_ms"]),
        )
    console.print(s)
