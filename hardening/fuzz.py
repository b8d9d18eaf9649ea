"""Fuzzing campaigns: generated spreadsheets, mutated corpus files and bombs through the fenced probe.

Every input must end *read* (tables, or a readable empty file) or *rejected with a reason*
(``SubmissionUnreadable`` with an English and a Chinese reason) — never a crash, an abort,
an out-of-memory or a hang — within ``SLOW_S`` seconds and the memory bound. Inputs that
break a promise are kept under ``<workdir>/failures/`` so they can be replayed.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from duban.settings import REPO_ROOT
from hardening.bombs import BOMBS
from hardening.fuzzgen import csv_files, html_files, xls_files, xlsx_files
from hardening.mutate import mutate
from hardening.report import CampaignResult

__all__ = [
    "GENERATORS",
    "OK",
    "SLOW_S",
    "Prober",
    "corpus_files",
    "fuzz_bombs",
    "fuzz_corpus",
    "fuzz_generated",
]

OK = ("read", "empty", "rejected")
SLOW_S = 5.0
MEMORY_MB = 1024
GENERATORS: dict[str, st.SearchStrategy[tuple[bytes, str]]] = {
    "csv": csv_files(),
    "xlsx": xlsx_files(),
    "xls": xls_files(),
    "html-as-xls": html_files(),
}
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "spreadsheets"


class Prober:
    """A ``python -m hardening.probe`` worker; ``probe(data, suffix)`` returns its verdict."""

    def __init__(self, workdir: Path, *, limit_mb: int = MEMORY_MB, timeout_s: float = 30) -> None:
        self.workdir = workdir
        self.limit_mb = limit_mb
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""
        self.count = 0

    def _start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._err = (self.workdir / "probe.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hardening.probe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        if self._line(120) != "probe ready":
            raise RuntimeError(f"hardening.probe did not start (see {self.workdir / 'probe.log'})")

    def __enter__(self) -> Prober:
        self._start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._err.close()
            self.proc = None

    def _line(self, timeout: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def probe(self, data: bytes, suffix: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.count += 1
        path = self.workdir / f"input{suffix}"
        path.write_bytes(data)
        self.proc.stdin.write(f"{path}\t{self.limit_mb}\t{self.timeout_s}\n".encode())
        self.proc.stdin.flush()
        line = self._line(self.timeout_s + 60)
        if line is None:  # the worker itself is gone or stuck: restart it, call it a crash
            self.proc.kill()
            self._stop()
            self._buf = b""
            self._start()
            return {
                "outcome": "crash",
                "reason": "the probe worker died",
                "seconds": self.timeout_s,
                "peak_mb": 0,
            }
        return json.loads(line)


class _Tally:
    def __init__(self, res: CampaignResult, workdir: Path) -> None:
        self.res = res
        self.failures = workdir / "failures"
        self.outcomes: Counter[str] = Counter()
        self.slowest = (0.0, "")
        self.biggest = (0.0, "")

    def add(self, label: str, data: bytes, suffix: str, verdict: dict[str, Any]) -> None:
        self.res.trials += 1
        outcome = verdict.get("outcome", "crash")
        self.outcomes[outcome] += 1
        secs, peak = float(verdict.get("seconds", 0)), float(verdict.get("peak_mb", 0))
        self.slowest = max(self.slowest, (secs, label))
        self.biggest = max(self.biggest, (peak, label))
        bad = outcome not in OK or secs > SLOW_S
        if bad:
            self.failures.mkdir(parents=True, exist_ok=True)
            keep = self.failures / f"{len(self.res.problems):03d}-{_safe(label)}{suffix}"
            keep.write_bytes(data)
            why = verdict.get("reason", "") if outcome not in OK else f"{secs:.1f}s (over {SLOW_S:.0f}s)"
            self.res.problem(f"{label}: {outcome}, {secs:.1f}s, {peak:.0f} MB: {why} [kept as {keep.name}]")

    def close(self) -> None:
        tally = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        self.res.counts.update(self.outcomes)
        self.res.notes.append(
            f"outcomes: {tally}; slowest {self.slowest[0]:.2f}s ({self.slowest[1]}); "
            f"largest peak memory {self.biggest[0]:.0f} MB ({self.biggest[1]})"
        )


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:60]


def _run_strategy(
    name: str,
    strategy: st.SearchStrategy[tuple[bytes, str]],
    examples: int,
    seed_value: int,
    prober: Prober,
    tally: _Tally,
) -> None:
    n = 0

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def body(drawn: tuple[bytes, str]) -> None:
        nonlocal n
        n += 1
        data, suffix = drawn
        tally.add(f"{name}#{n}", data, suffix, prober.probe(data, suffix))

    seed(seed_value)(body)()


def fuzz_generated(
    prober: Prober,
    *,
    examples: int,
    seed_value: int = 8,
    generators: dict[str, st.SearchStrategy[tuple[bytes, str]]] | None = None,
) -> CampaignResult:
    """``examples`` hypothesis examples from each generator, each through the probe."""
    gens = generators or GENERATORS
    res = CampaignResult("fuzz: generated files", f"hypothesis: {', '.join(gens)}; {examples} examples each")
    started = time.monotonic()
    tally = _Tally(res, prober.workdir)
    for name, strategy in gens.items():
        _run_strategy(name, strategy, examples, seed_value, prober, tally)
    tally.close()
    res.seconds = time.monotonic() - started
    return res


def corpus_files(root: Path = CORPUS) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def fuzz_corpus(
    prober: Prober, *, mutations: int, seed_value: int = 9, root: Path = CORPUS
) -> CampaignResult:
    """Every corpus file as is, then ``mutations`` random mutations of each."""
    files = corpus_files(root)
    res = CampaignResult(
        "fuzz: corpus mutations",
        f"{len(files)} corpus files as is + {mutations} mutations each "
        "(bit flips, overwrites, truncation, inserts, damaged zip members)",
    )
    started = time.monotonic()
    rng = random.Random(seed_value)
    tally = _Tally(res, prober.workdir)
    ops: Counter[str] = Counter()
    for path in files:
        data = path.read_bytes()
        suffix = path.suffix.lower() or ".bin"
        tally.add(f"{path.name}", data, suffix, prober.probe(data, suffix))
        for k in range(mutations):
            mutated, op = mutate(data, rng)
            ops[op.split(" in ")[0]] += 1
            tally.add(f"{path.name}~{k}:{op}", mutated, suffix, prober.probe(mutated, suffix))
    tally.close()
    res.notes.append("mutations: " + ", ".join(f"{k} {v}" for k, v in sorted(ops.items())))
    res.seconds = time.monotonic() - started
    return res


def fuzz_bombs(prober: Prober, *, scale: float = 1.0, names: list[str] | None = None) -> CampaignResult:
    """Each bomb once: its verdict, time and peak memory (bound: the prober's ``limit_mb``)."""
    chosen = {k: v for k, v in BOMBS.items() if names is None or k in names}
    res = CampaignResult(
        "fuzz: bombs",
        f"zip bomb, billion laughs, huge ranges and multipliers ({len(chosen)} files); "
        f"memory bound {prober.limit_mb} MB",
    )
    started = time.monotonic()
    for name, (build, suffix) in chosen.items():
        data = build(scale)
        v = prober.probe(data, suffix)
        res.trials += 1
        line = (
            f"{name}: {len(data):,} bytes → {v.get('outcome')} in {float(v.get('seconds', 0)):.2f}s, "
            f"peak {float(v.get('peak_mb', 0)):.0f} MB"
            + (f" — {v.get('reason', '')[:120]}" if v.get("reason") else "")
        )
        if v.get("outcome") not in OK or float(v.get("seconds", 0)) > SLOW_S:
            res.problem(line)
        else:
            res.notes.append(line)
        del data
    res.seconds = time.monotonic() - started
    return res


def clean(workdir: Path) -> None:
    shutil.rmtree(workdir / "failures", ignore_errors=True)
