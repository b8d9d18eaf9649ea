"""Every campaign, at a given scale, in two groups that can run side by side.

``make soak`` runs :data:`SOAK`; the tests run the same functions at a few trials each. The
*store* group (crashes, database and transport faults, injection, secrets, isolation) spends
most of its time waiting for child processes and servers; the *files* group (fuzzing) is CPU
bound in its own processes — so ``python -m hardening`` runs the files group in a second
process beside the store group and merges the results.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hardening.report import CampaignResult

__all__ = ["FILE_KEYS", "GROUPS", "QUICK", "SOAK", "STORE_KEYS", "Scale", "run_group"]

log = logging.getLogger("hardening")


@dataclass(frozen=True)
class Scale:
    crash_trials: int = 24
    db_trials: int = 12
    smtp_trials: int = 2
    api_trials: int = 1
    fuzz_examples: int = 500
    corpus_mutations: int = 8
    bomb_scale: float = 1.0
    isolation_examples: int = 20
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    cli: tuple[str, ...] = ("collect", "remind (wrong password)", "outbox")
    only: tuple[str, ...] = field(default=())  # campaign keys to run (all when empty)


SOAK = Scale()
QUICK = Scale(
    crash_trials=2,
    db_trials=2,
    smtp_trials=1,
    api_trials=1,
    fuzz_examples=10,
    corpus_mutations=1,
    bomb_scale=0.1,
    isolation_examples=2,
    cli=(),
)
GROUPS = ("store", "files")
STORE_KEYS = (
    "crash-collect",
    "crash-reconcile",
    "crash-remind",
    "db-terminate",
    "smtp",
    "api",
    "injection",
    "secrets",
    "isolation",
)
FILE_KEYS = ("fuzz-generated", "fuzz-corpus", "bombs")


def _guard(name: str, fn: Callable[[], CampaignResult]) -> CampaignResult:
    """Run one campaign; a campaign that raises is reported, not fatal to the others."""
    started = time.monotonic()
    log.info("campaign %s: start", name)
    try:
        res = fn()
    except Exception as exc:
        log.exception("campaign %s raised", name)
        res = CampaignResult(name, "(did not complete)")
        res.problem(f"the campaign raised {type(exc).__name__}: {exc}")
        res.notes.append(traceback.format_exc().strip().splitlines()[-1])
        res.seconds = time.monotonic() - started
    log.info("campaign %s: %s", name, res.summary())
    return res


def _wanted(scale: Scale, key: str) -> bool:
    return not scale.only or key in scale.only


def run_store_group(
    scale: Scale, workdir: Path, report: Callable[[CampaignResult], None]
) -> list[CampaignResult]:
    from hardening import crash, dbfault, isolation, secrets
    from hardening.apifaults import api_faults
    from hardening.forker import Forker
    from hardening.injection import injection
    from hardening.smtpfaults import smtp_faults
    from hardening.world import build_world, pg_available

    out: list[CampaignResult] = []

    def add(res: CampaignResult) -> None:
        out.append(res)
        report(res)

    pg_problem = pg_available() if "postgresql" in scale.backends else "not requested"
    backends = tuple(b for b in scale.backends if b != "postgresql" or pg_problem is None)
    if pg_problem and "postgresql" in scale.backends:
        log.warning("PostgreSQL campaigns skipped: %s", pg_problem)
    world = build_world(workdir / "world")
    try:
        with Forker(workdir / "child.log") as forker:
            for key, fn in (
                (
                    "crash-collect",
                    lambda: crash.crash_collect(world, forker, trials=scale.crash_trials, backends=backends),
                ),
                (
                    "crash-reconcile",
                    lambda: crash.crash_reconcile(
                        world, forker, trials=scale.crash_trials, backends=backends
                    ),
                ),
                (
                    "crash-remind",
                    lambda: crash.crash_remind(world, forker, trials=scale.crash_trials, backends=backends),
                ),
            ):
                if _wanted(scale, key):
                    add(_guard(key, fn))
            if _wanted(scale, "db-terminate"):
                if "postgresql" in backends:
                    add(
                        _guard(
                            "db-terminate",
                            lambda: dbfault.db_terminate(world, forker, trials=scale.db_trials),
                        )
                    )
                else:
                    skipped = CampaignResult("fault: PostgreSQL backend killed", "skipped")
                    skipped.notes.append(f"skipped: {pg_problem}")
                    add(skipped)
        if _wanted(scale, "smtp"):
            add(_guard("smtp", lambda: smtp_faults(world, trials=scale.smtp_trials)))
        if _wanted(scale, "api"):
            add(_guard("api", lambda: api_faults(world, trials=scale.api_trials)))
        if _wanted(scale, "injection"):
            add(_guard("injection", lambda: injection(world, workdir / "injection", backends=backends)))
        if _wanted(scale, "secrets"):
            add(_guard("secrets", lambda: secrets.secrets_scan(world, workdir / "secrets", cli=scale.cli)))
        if _wanted(scale, "isolation"):
            add(_guard("isolation", lambda: isolation.isolation(world, examples=scale.isolation_examples)))
    finally:
        world.close()
    return out


def run_files_group(
    scale: Scale, workdir: Path, report: Callable[[CampaignResult], None]
) -> list[CampaignResult]:
    from hardening.fuzz import CORPUS, Prober, fuzz_bombs, fuzz_corpus, fuzz_generated

    out: list[CampaignResult] = []
    with Prober(workdir / "fuzz") as prober:
        for key, fn in (
            ("fuzz-generated", lambda: fuzz_generated(prober, examples=scale.fuzz_examples)),
            ("fuzz-corpus", lambda: fuzz_corpus(prober, mutations=scale.corpus_mutations)),
            ("bombs", lambda: fuzz_bombs(prober, scale=scale.bomb_scale)),
        ):
            if not _wanted(scale, key):
                continue
            if key == "fuzz-corpus" and not CORPUS.is_dir():
                res = CampaignResult("fuzz: corpus mutations", "skipped")
                res.notes.append(f"skipped: {CORPUS} is absent")
            else:
                res = _guard(key, fn)
            out.append(res)
            report(res)
    return out


def run_group(
    group: str, scale: Scale, workdir: Path, report: Callable[[CampaignResult], None] = lambda r: None
) -> list[CampaignResult]:
    workdir.mkdir(parents=True, exist_ok=True)
    if group == "store":
        return run_store_group(scale, workdir / "store", report)
    if group == "files":
        return run_files_group(scale, workdir / "files", report)
    raise ValueError(f"unknown group {group!r}; groups: {', '.join(GROUPS)}")
