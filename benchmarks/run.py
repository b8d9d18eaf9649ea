"""``make bench [SCALE=city|1000|province|tiny]``: one run, side by side, printed and stored.

Generates (or reuses) the scale's quarter, then measures on this machine, wall clock and peak
RSS: the calamine floor and the naive pandas baseline on the same files; duban's stages
in-process; the sending floor (bare smtplib, same bytes); and the same cycle as Prefect flows
against a ``prefect server start`` it launches. Writes ``var/bench/<scale>.json`` and
``var/bench/latest.json`` and prints the table, the ratios against the targets of issue 7, and
the growth over every scale measured so far.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from benchmarks.floor import naive_baseline, read_floor, rss_mb, smtp_floor
from benchmarks.generate import SCALES, Dataset, ensure_dataset
from benchmarks.report import print_report, targets
from benchmarks.stages import (
    PrefectServer,
    inprocess_cycle,
    prepare_run,
    run_flow_subprocess,
    seed_store,
    store_counts,
    write_config,
)

__all__ = ["main", "run"]

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-not-a-secret"


def _in_child(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in a fresh interpreter so that its peak RSS is its own."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def _servers(ds: Dataset, mail_dir: Path) -> tuple[Any, Any]:
    from connectors.api.loopback import LoopbackApi
    from connectors.mail.loopback import LoopbackSmtpServer

    return (
        LoopbackSmtpServer(mail_dir, keep_in_memory=False),
        LoopbackApi(ds.api_records, token=TOKEN, page_size=200),
    )


def _env(smtp_port: int, api_url: str) -> dict[str, str]:
    return {
        "DUBAN_SMTP_HOST": "127.0.0.1",
        "DUBAN_SMTP_PORT": str(smtp_port),
        "DUBAN_SMTP_SECURITY": "none",
        "DUBAN_SMTP__RATE_PER_SECOND": "0",
        "DUBAN_SOURCE_ZZD_PROGRESS_URL": api_url,
        "DUBAN_ZZD_TOKEN": TOKEN,
    }


def _sent_messages(smtp: Any) -> list[tuple[str, list[str], bytes]]:
    return [
        (frm, rcpts, p.read_bytes()) for p, (frm, rcpts) in zip(smtp.files(), smtp.envelopes, strict=True)
    ]


def _inprocess(ds: Dataset, run_dir: Path, pdf: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    smtp, api = _servers(ds, run_dir / "mail-inprocess")
    with smtp, api:
        env = prepare_run(ds, run_dir, "inprocess", _env(smtp.port, api.base_url))
        stages = _in_child(inprocess_cycle, env, pdf=pdf)
        messages = _sent_messages(smtp)
    from connectors.mail.loopback import LoopbackSmtpServer

    with LoopbackSmtpServer(run_dir / "mail-floor", keep_in_memory=False) as sink:
        sending = (
            smtp_floor(messages, "127.0.0.1", sink.port) if messages else {"seconds": 0.0, "messages": 0}
        )
    stages["counts"] = store_counts(Path(env["DUBAN_HOME"]) / "duban.db")
    return stages, sending


def _prefect(ds: Dataset, run_dir: Path) -> dict[str, Any]:
    from connectors.mail.loopback import free_port

    server = PrefectServer(run_dir / "prefect-home", free_port())
    try:
        start_s = server.start()
        smtp, api = _servers(ds, run_dir / "mail-prefect")
        with smtp, api:
            env = prepare_run(ds, run_dir, "prefect", _env(smtp.port, api.base_url))
            flow = run_flow_subprocess(env, server.url, server.home)
        flow["server_start_s"] = start_s
        flow["server_rss_mb"] = server.peak_rss_mb()
    except Exception as exc:  # reported with the rest of the figures, not a lost run
        return {"error": f"{type(exc).__name__}: {exc}"[-2000:]}
    finally:
        server.stop()
    flow["counts"] = store_counts(Path(env["DUBAN_HOME"]) / "duban.db")
    return flow


def _git_rev() -> str:
    cmd = ["git", "-C", str(REPO), "describe", "--always", "--dirty"]
    return subprocess.run(cmd, capture_output=True, check=False).stdout.decode().strip() or "unknown"


def run(
    scale_name: str,
    out: Path,
    *,
    prefect: bool = True,
    pdf: bool = True,
    naive_sample: int = 200,
    label: str = "",
) -> dict[str, Any]:
    """Measure one scale; returns the result dict (also written to ``out``)."""
    scale = SCALES[scale_name]
    load_before = os.getloadavg()[0]
    ds = ensure_dataset(scale, out / "data")
    run_dir = out / "run" / scale.name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    write_config(ds, run_dir, REPO / "config")
    _in_child(seed_store, ds, run_dir)
    files = ds.files()
    expected = [(it.id, a.unit) for it in ds.catalogue.items for a in it.assignments]
    step = time.perf_counter()
    floor = read_floor(files)
    naive = _in_child(naive_baseline, files, expected, sample=naive_sample)
    stages, sending = _inprocess(ds, run_dir, pdf)
    flow = _prefect(ds, run_dir) if prefect else {}
    errors = {f"inprocess {k}": v for k, v in stages["errors"].items()}
    if "error" in flow:
        errors["prefect"] = flow["error"]
    ok = "cycle_s" in flow
    collect_s = stages["collect_files_s"] + stages["collect_api_s"]
    peak = max(stages["rss_mb"], flow["rss_mb"] if ok else 0.0)
    result: dict[str, Any] = {
        "scale": scale.name,
        "units": scale.units,
        "items": ds.manifest["items"],
        "assignments": ds.manifest["assignments"],
        "files": len(files),
        "api_records": len(ds.api_records),
        "formats": ds.manifest["formats"],
        "generation_s": ds.manifest.get("generation_s"),
        "generation_reused": ds.manifest["reused"],
        "floor_s": floor["seconds"],
        "floor_workers": floor["workers"],
        "naive_s": naive["seconds"],
        "naive_extrapolated": naive["extrapolated"],
        "naive_files_read": naive["files_read"],
        "collect_s": collect_s,
        "collect_files_s": stages["collect_files_s"],
        "collect_api_s": stages["collect_api_s"],
        "reconcile_s": stages["reconcile_s"],
        "status_s": stages["status_s"],
        "notices_s": stages["notices_s"],
        "notices": stages["notices"],
        "smtp_floor_s": sending["seconds"],
        "smtp_floor_messages": sending["messages"],
        "bulletin_s": stages["bulletin_s"],
        "bulletin_pdf": pdf,
        "cycle_inprocess_s": stages["cycle_s"],
        "cycle_prefect_s": flow["cycle_s"] if ok else None,
        "prefect_jobs_s": flow["jobs_s"] if ok else None,
        "prefect_process_s": flow["process_s"] if ok else None,
        "prefect_import_s": flow["import_s"] if ok else None,
        "prefect_server_start_s": flow["server_start_s"] if ok else None,
        "peak_rss_mb": peak,
        "rss_mb": {
            "inprocess": stages["rss_mb"],
            "prefect_flow": flow["rss_mb"] if ok else None,
            "prefect_server": flow["server_rss_mb"] if ok else None,
            "naive": naive["rss_mb"],
            "floor_worker": floor["worker_rss_mb"],
            "orchestrator": rss_mb(),
        },
        "same_results": (stages["counts"] == flow["counts"]) if ok else None,
        "errors": errors,
        "counts": {"inprocess": stages["counts"], "prefect": flow["counts"] if ok else None},
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": round(load_before, 2),
            "load_after": round(os.getloadavg()[0], 2),
            "python": sys.version.split()[0],
        },
        "measured_s": time.perf_counter() - step,
        "git": _git_rev(),
        "label": label,
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    result["ratios"] = targets(result, out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, ensure_ascii=False, indent=1, default=str)
    (out / f"{scale.name}.json").write_text(text, "utf-8")
    (out / "latest.json").write_text(text, "utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="city")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench")
    ap.add_argument("--no-prefect", action="store_true", help="skip the Prefect server run")
    ap.add_argument("--no-pdf", action="store_true", help="bulletin without PDF (implies --no-prefect)")
    ap.add_argument("--naive-sample", type=int, default=200, help="files read by the naive baseline")
    ap.add_argument("--label", default="", help="a note stored with the figures (e.g. 'before fix X')")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    result = run(
        args.scale,
        args.out.resolve(),
        prefect=not (args.no_prefect or args.no_pdf),
        pdf=not args.no_pdf,
        naive_sample=args.naive_sample,
        label=args.label,
    )
    print_report(result, args.out.resolve())
    print(f"wrote {args.out / 'latest.json'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
