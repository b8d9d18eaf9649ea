"""``python -m benchmarks.profile --scale city [--prefect]``: where the cycle's time goes.

Same data, store and servers as ``benchmarks.run``. Without ``--prefect`` the in-process
cycle runs under pyinstrument and ``var/bench/profile-<scale>.txt`` / ``.html`` get the call
tree with each stage's share; with ``--prefect`` the Prefect run (``reporting_cycle`` against
a fresh ``prefect server start``) is profiled into ``var/bench/profile-<scale>-prefect.txt``.
Needs pyinstrument (dev extra).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.generate import SCALES, ensure_dataset
from benchmarks.run import REPO, _env, _servers
from benchmarks.stages import (
    PrefectServer,
    inprocess_cycle,
    prepare_run,
    run_flow_subprocess,
    seed_store,
    write_config,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="city")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench")
    ap.add_argument("--prefect", action="store_true", help="profile the Prefect run instead")
    ap.add_argument("--interval", type=float, default=0.005, help="sampling interval in seconds")
    args = ap.parse_args(argv)
    from pyinstrument import Profiler

    out = args.out.resolve()
    ds = ensure_dataset(SCALES[args.scale], out / "data")
    run_dir = out / "run" / f"profile-{args.scale}"
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(ds, run_dir, REPO / "config")
    seed_store(ds, run_dir)
    stem = out / f"profile-{args.scale}{'-prefect' if args.prefect else ''}"
    smtp, api = _servers(ds, run_dir / "mail")
    if args.prefect:
        from connectors.mail.loopback import free_port

        server = PrefectServer(run_dir / "prefect-home", free_port())
        try:
            server.start()
            with smtp, api:
                env = prepare_run(ds, run_dir, "home", _env(smtp.port, api.base_url))
                result = run_flow_subprocess(env, server.url, server.home, profile=stem.with_suffix(".txt"))
        finally:
            server.stop()
        print({k: round(v, 2) for k, v in result.items() if k.endswith("_s")})
        print(f"wrote {stem}.txt")
        return 0
    with smtp, api:
        env = prepare_run(ds, run_dir, "home", _env(smtp.port, api.base_url))
        profiler = Profiler(interval=args.interval)
        with profiler:
            result = inprocess_cycle(env)
    stem.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False), "utf-8")
    stem.with_suffix(".html").write_text(profiler.output_html(), "utf-8")
    print({k: round(v, 2) for k, v in result.items() if k.endswith("_s")})
    print(f"wrote {stem}.txt and {stem}.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
