"""``python -m benchmarks.reading``: where a reader's time goes, stage by stage, in one process.

Runs on the files and store ``make bench-collect`` prepared (``var/bench/run/collection-2000``):
python-calamine alone, then duban's ``read_tables``, ``identify``, ``validate_table``, the item
rows over every file, each the best of three passes. The difference
between the first two lines is the connector's own Python; the rest is what a reader adds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.floor import _read_one
from benchmarks.run import REPO

__all__ = ["main", "stage_times"]


def _best(fn: Callable[[], Any], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def stage_times(run_dir: Path) -> dict[str, float]:
    """Seconds per stage over every file of ``run_dir``'s inbox (best of three)."""
    with tempfile.TemporaryDirectory() as home:
        shutil.copyfile(run_dir / "seed.db", Path(home) / "duban.db")
        os.environ.update({"DUBAN_HOME": home, "DUBAN_CONFIG_DIR": str(run_dir / "config")})
        from connectors.spreadsheets import read_tables
        from duban.collect.identify import identify
        from duban.collect.rows import item_rows
        from duban.collect.validate import validate_table
        from duban.settings import get_settings
        from duban_app.context import AppContext

        get_settings.cache_clear()
        ctx = AppContext()
        catalogue, _ = ctx.catalogue()
        directory, cfg = ctx.directory, ctx.settings.collection
        files = sorted((run_dir / "home" / "inbox").iterdir())
        tables = {p: read_tables(p) for p in files}
        idents = {
            (p, t.sheet): identify(t, directory, filename=p.name, senders=cfg.senders)
            for p in files
            for t in tables[p]
        }

        def validate_all() -> dict[Any, Any]:
            return {
                key: validate_table(
                    t, catalogue, i.unit, i.period, accept=cfg.fuzzy_accept, suggest=cfg.fuzzy_suggest
                )
                for p in files
                for t in tables[p]
                if (i := idents[(key := (p, t.sheet))]).unit and i.period
            }

        checked = validate_all()
        out = {
            "calamine alone": _best(lambda: [_read_one(str(p)) for p in files]),
            "read_tables": _best(lambda: [read_tables(p) for p in files]),
            "identify": _best(
                lambda: [
                    identify(t, directory, filename=p.name, senders=cfg.senders)
                    for p in files
                    for t in tables[p]
                ]
            ),
            "validate_table": _best(validate_all),
            "item_rows": _best(
                lambda: [
                    item_rows(*checked[key], idents[key].period, idents[key].unit)
                    for p in files
                    for t in tables[p]
                    if (key := (p, t.sheet)) in checked
                ]
            ),
        }
        ctx.close()
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=REPO / "var" / "bench" / "run" / "collection-2000")
    args = ap.parse_args(argv)
    if not (args.run / "seed.db").exists():
        print(f"{args.run}: no prepared run; run `make bench-collect` first", file=sys.stderr)
        return 2
    for stage, seconds in stage_times(args.run).items():
        print(f"  {stage:<16} {seconds:6.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
