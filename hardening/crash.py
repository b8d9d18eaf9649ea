"""SIGKILL during collect, reconcile and remind; then a rerun; then the store must be whole.

Each trial copies a base store, starts the job in a forked child, kills it with SIGKILL after
a random number of its progress lines plus a random sliver of time (so kills land inside
commits, file reads, renders and SMTP transactions alike), checks the store as the kill left
it, reruns the job to completion and compares the result with an undisturbed reference run:

- collect: no orphan row, no half submission, the same submissions, items and findings as
  the reference (nothing lost, nothing stored twice);
- reconcile: right after the kill the findings are all old or all new, never a mix; after
  the rerun they equal the reference;
- remind: at most one notice in flight at the kill; after the rerun every notice is sent,
  every unit's message arrived, at most twice, and only the one in flight may repeat.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from connectors.mail.loopback import LoopbackSmtpServer
from duban.store.db import SHANGHAI, Store
from hardening.checks import Snapshot, compare, integrity_problems, notice_states, snapshot
from hardening.forker import Forker, JobRun
from hardening.report import CampaignResult
from hardening.world import World

__all__ = [
    "WHEN",
    "collect_reference",
    "crash_collect",
    "crash_reconcile",
    "crash_remind",
    "reconcile_reference",
    "remind_reference",
    "smtp_env",
]

WHEN = datetime(2027, 1, 8, 9, 30, tzinfo=SHANGHAI)  # the 催报 day of 2026Q4


def smtp_env(port: int) -> dict[str, str]:
    return {
        "DUBAN_SMTP_HOST": "127.0.0.1",
        "DUBAN_SMTP_PORT": str(port),
        "DUBAN_SMTP_SECURITY": "none",
        "DUBAN_SMTP__RATE_PER_SECOND": "0",
    }


def _backend(backends: Sequence[str], i: int) -> str:
    return backends[i % len(backends)]


def _kill_at(forker: Forker, run: JobRun, rng: random.Random, lines: int, sliver: float) -> bool:
    """Kill after ``lines`` progress lines and a random sliver; True if it landed mid-job."""
    forker.read(run, progress=lines, timeout=120)
    time.sleep(rng.uniform(0, sliver))
    forker.kill(run)
    forker.reap(run)
    return not run.finished


def _finish(
    forker: Forker, res: CampaignResult, label: str, job: str, env: dict[str, str], args: dict
) -> JobRun:
    rerun = forker.run(job, env, args)
    if rerun.error or rerun.done is None:
        res.problem(f"{label}: rerun did not finish: {rerun.error or rerun.lines[-3:]}")
    return rerun


def collect_reference(world: World, forker: Forker) -> Snapshot:
    """The store after an undisturbed collect of every file (the same on every backend)."""

    def run() -> Snapshot:
        with world.trial_of("fresh") as t:
            ref = forker.run("collect", t.env(world), {"files": [str(p) for p in world.files]})
            if ref.error or ref.done is None:
                raise RuntimeError(f"reference collect failed: {ref.error or ref.lines[-3:]}")
            store = Store(t.url)
            try:
                return snapshot(store)
            finally:
                store.dispose()

    return world.memo("collect", run)


def reconcile_reference(world: World, forker: Forker) -> tuple[Snapshot, Snapshot, float]:
    """(store before, store after, seconds) of an undisturbed reconcile of the ``stale`` state."""

    def run() -> tuple[Snapshot, Snapshot, float]:
        with world.trial_of("stale") as t:
            store = Store(t.url)
            try:
                before = snapshot(store)
                ref = forker.run("reconcile", t.env(world), {})
                if ref.error or ref.done is None:
                    raise RuntimeError(f"reference reconcile failed: {ref.error or ref.lines[-3:]}")
                after = snapshot(store)
            finally:
                store.dispose()
        if before == after:
            raise RuntimeError("reconcile changed nothing; the campaign would prove nothing")
        return before, after, float(ref.done["elapsed"])

    return world.memo("reconcile", run)


def remind_reference(world: World, forker: Forker, state: str, stage: str) -> set[str]:
    """The Message-IDs an undisturbed run of ``stage`` delivers from base ``state``."""

    def run() -> set[str]:
        with (
            world.trial_of(state) as t,
            LoopbackSmtpServer(t.home / "mail-ref", keep_in_memory=False) as srv,
        ):
            args = {"stage": stage, "when": WHEN.isoformat()}
            ref = forker.run("remind", {**t.env(world), **smtp_env(srv.port)}, args)
            if ref.error or not ref.done or ref.done["sent"] == 0:
                raise RuntimeError(f"reference {stage} run failed or sent nothing: {ref.error or ref.done}")
            return set(srv.message_ids())

    return world.memo(f"remind:{state}:{stage}", run)


def crash_collect(
    world: World, forker: Forker, *, trials: int, backends: Sequence[str] = ("sqlite",), seed: int = 1
) -> CampaignResult:
    res = CampaignResult(
        "crash: collect", f"SIGKILL at a random file of {len(world.files)} during collect, rerun"
    )
    rng = random.Random(seed)
    started = time.monotonic()
    args = {"files": [str(p) for p in world.files]}
    try:
        reference = collect_reference(world, forker)
    except RuntimeError as exc:
        res.problem(str(exc))
        return res
    landed = 0
    for i in range(trials):
        b = _backend(backends, i)
        with world.trial_of("fresh", b) as t:
            label = f"trial {i} ({b})"
            env = t.env(world)
            run = forker.start("collect", env, args)
            landed += _kill_at(forker, run, rng, rng.randint(0, len(world.files) - 1), 0.08)
            store = Store(t.url)
            try:
                for p in integrity_problems(store):
                    res.problem(f"{label}, after the kill: {p}")
                _finish(forker, res, label, "collect", env, args)
                for p in integrity_problems(store):
                    res.problem(f"{label}, after the rerun: {p}")
                lost, dup, notes = compare(reference, snapshot(store))
                res.lost += lost
                res.duplicated += dup
                for n in notes:
                    res.problem(f"{label}: {n}")
            finally:
                store.dispose()
        res.trials += 1
    res.counts["kills_landed"] = landed
    res.notes.append(f"{landed}/{trials} kills landed mid-run; backends {', '.join(dict.fromkeys(backends))}")
    res.seconds = time.monotonic() - started
    return res


def crash_reconcile(
    world: World, forker: Forker, *, trials: int, backends: Sequence[str] = ("sqlite",), seed: int = 2
) -> CampaignResult:
    res = CampaignResult(
        "crash: reconcile", "SIGKILL at a random moment of reconcile (replacing stale findings), rerun"
    )
    rng = random.Random(seed)
    started = time.monotonic()
    try:
        before, after, took = reconcile_reference(world, forker)
    except RuntimeError as exc:
        res.problem(str(exc))
        return res
    outcomes: Counter[str] = Counter()
    for i in range(trials):
        b = _backend(backends, i)
        with world.trial_of("stale", b) as t:
            label = f"trial {i} ({b})"
            env = t.env(world)
            run = forker.start("reconcile", env, {})
            forker.read(run, progress=0, timeout=60)  # until "ready"
            time.sleep(rng.uniform(0, took * 1.3))
            forker.kill(run)
            forker.reap(run)
            store = Store(t.url)
            try:
                mid = snapshot(store)
                state = "old" if mid == before else "new" if mid == after else "mixed"
                outcomes[state] += 1
                if state == "mixed":
                    _, _, notes = compare(after, mid)
                    res.problem(f"{label}: findings half replaced after the kill: {notes[:2]}")
                for p in integrity_problems(store):
                    res.problem(f"{label}, after the kill: {p}")
                _finish(forker, res, label, "reconcile", env, {})
                lost, dup, notes = compare(after, snapshot(store))
                res.lost += lost
                res.duplicated += dup
                for n in notes:
                    res.problem(f"{label}: {n}")
            finally:
                store.dispose()
        res.trials += 1
    res.counts.update(outcomes)
    res.notes.append(
        f"state right after the kill: {outcomes['old']} all old, {outcomes['new']} all new, "
        f"{outcomes['mixed']} mixed; reconcile took ~{took:.2f}s"
    )
    res.seconds = time.monotonic() - started
    return res


def _message_ids(store: Store) -> dict[str, str]:
    from sqlalchemy import text

    with store.engine.connect() as c:
        return {mid: unit for unit, mid in c.execute(text("select unit, message_id from notice"))}


def crash_remind(
    world: World,
    forker: Forker,
    *,
    trials: int,
    backends: Sequence[str] = ("sqlite",),
    stages: Sequence[str] = ("open", "due"),
    seed: int = 3,
) -> CampaignResult:
    res = CampaignResult(
        "crash: remind", f"SIGKILL at a random notice of stages {'/'.join(stages)}, rerun; loopback SMTP"
    )
    rng = random.Random(seed)
    started = time.monotonic()
    try:
        expected = {stage: remind_reference(world, forker, "half", stage) for stage in stages}
    except RuntimeError as exc:
        res.problem(str(exc))
        return res
    landed = 0
    repeated_total = 0
    for i in range(trials):
        b = _backend(backends, i)
        stage = stages[i % len(stages)]
        label = f"trial {i} ({b}, {stage})"
        args = {"stage": stage, "when": WHEN.isoformat()}
        with world.trial_of("half", b) as t, LoopbackSmtpServer(t.home / "mail", keep_in_memory=False) as srv:
            env = {**t.env(world), **smtp_env(srv.port)}
            run = forker.start("remind", env, args)
            hit = _kill_at(forker, run, rng, rng.randint(0, len(expected[stage]) - 1), 0.03)
            landed += hit
            store = Store(t.url)
            try:
                in_flight = {u for u, s in notice_states(store).items() if s == "sending"}
                for p in integrity_problems(store, raw_files=False):
                    res.problem(f"{label}, after the kill: {p}")
                _finish(forker, res, label, "remind", env, args)
                for p in integrity_problems(store, notices_final=True, raw_files=False):
                    res.problem(f"{label}, after the rerun: {p}")
                counts = Counter(srv.message_ids())
                owner = _message_ids(store)
                missing = expected[stage] - set(counts)
                extra = set(counts) - expected[stage]
                res.lost += len(missing)
                if missing or extra:
                    res.problem(f"{label}: {len(missing)} notice(s) never arrived, {len(extra)} unexpected")
                repeats = {m: c for m, c in counts.items() if c > 1}
                res.duplicated += sum(c - 1 for c in repeats.values())
                res.allowed_duplicates += 1 if hit else 0
                repeated_total += len(repeats)
                if any(c > 2 for c in repeats.values()):
                    res.problem(f"{label}: a unit got more than two copies: {max(repeats.values())}")
                strays = {owner.get(m, m) for m in repeats} - in_flight
                if strays:
                    res.problem(f"{label}: repeated notices not in flight at the kill: {sorted(strays)[:3]}")
            finally:
                store.dispose()
        res.trials += 1
    res.counts.update(kills_landed=landed, repeated=repeated_total)
    res.notes.append(
        f"{landed}/{trials} kills landed mid-run; {repeated_total} notice(s) arrived twice, each the one "
        "in flight; notices per run: " + ", ".join(f"{s} {len(v)}" for s, v in expected.items())
    )
    res.seconds = time.monotonic() - started
    return res
