"""``python -m hardening`` (``make soak``): run every long campaign, print the table, rewrite RELIABILITY.md.

The files group (fuzzing) runs in a second process beside the store group; both log to
``<workdir>/soak.log``. Exit status 1 when any campaign found a problem (the table is written
either way); inputs that broke a promise are kept under ``<workdir>/files/fuzz/failures``.

    python -m hardening [--workdir var/hardening] [--only crash-collect,bombs] [--no-write] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from duban.settings import REPO_ROOT
from hardening.campaigns import FILE_KEYS, GROUPS, QUICK, SOAK, STORE_KEYS, run_group
from hardening.report import CampaignResult, render_table, write_reliability

__all__ = ["main"]


def _print(res: CampaignResult) -> None:
    print(("  ok    " if res.ok else "  FAIL  ") + res.summary(), flush=True)


def _child(args: argparse.Namespace, scale) -> int:  # the files group, in its own process
    results = run_group(args.group, scale, args.workdir, _print)
    args.json.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hardening", description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=REPO_ROOT / "var" / "hardening")
    ap.add_argument(
        "--only", default="", help=f"comma-separated campaigns: {', '.join(STORE_KEYS + FILE_KEYS)}"
    )
    ap.add_argument("--no-write", action="store_true", help="do not rewrite RELIABILITY.md")
    ap.add_argument(
        "--quick", action="store_true", help="a few trials each (a smoke test; implies --no-write)"
    )
    ap.add_argument("--group", choices=GROUPS, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    only = tuple(k for k in args.only.split(",") if k)
    unknown = set(only) - set(STORE_KEYS + FILE_KEYS)
    if unknown:
        ap.error(f"unknown campaign(s) {sorted(unknown)}")
    scale = replace(QUICK if args.quick else SOAK, only=only)
    args.no_write = args.no_write or args.quick
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        filename=args.workdir / "soak.log",
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    if args.group:
        return _child(args, scale)

    for stale in ("store", "files"):
        shutil.rmtree(args.workdir / stale, ignore_errors=True)
    started = time.monotonic()
    print(f"hardening soak: workdir {args.workdir} (log: soak.log)", flush=True)
    results_file = args.workdir / "files-results.json"
    results_file.unlink(missing_ok=True)
    files_proc = None
    if not only or set(only) & set(FILE_KEYS):
        files_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hardening",
                "--group",
                "files",
                "--workdir",
                str(args.workdir),
                "--json",
                str(results_file),
                "--only",
                ",".join(only),
                *(["--quick"] if args.quick else []),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
    results = (
        run_group("store", scale, args.workdir, _print) if not only or set(only) & set(STORE_KEYS) else []
    )
    if files_proc is not None:
        code = files_proc.wait()
        if results_file.exists():
            results += [CampaignResult(**r) for r in json.loads(results_file.read_text(encoding="utf-8"))]
        else:
            failed = CampaignResult("fuzz: (files group)", "did not complete")
            failed.problem(f"the files group exited with status {code} (see soak.log)")
            results.append(failed)
    total = time.monotonic() - started
    print()
    print(render_table(results))
    print(f"\ntotal {total / 60:.1f} min; {sum(not r.ok for r in results)} campaign(s) with problems")
    if not args.no_write:
        path = write_reliability(REPO_ROOT / "RELIABILITY.md", results, total_seconds=total)
        print(f"wrote {path}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
