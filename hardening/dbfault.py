"""PostgreSQL connections killed mid-transaction (``pg_terminate_backend``) during collect and remind.

A second connection watches ``pg_stat_activity`` for the job's backend while it is inside a
transaction and terminates it — once or twice per trial, at a random point of the batch.
The job must either finish (a later session gets a fresh connection) or stop with a message
that says what happened; a rerun must then complete, with nothing lost and nothing stored
twice (collect: the store equals an undisturbed reference), and every notice delivered at
most twice (remind: only a notice whose "sent" could not be recorded may repeat).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import text

from connectors.mail.loopback import LoopbackSmtpServer
from duban.store.db import Store
from hardening.checks import compare, integrity_problems, snapshot
from hardening.crash import WHEN, collect_reference, remind_reference, smtp_env
from hardening.forker import Forker, JobRun
from hardening.report import CampaignResult
from hardening.world import World, pg_admin

__all__ = ["CLEAR_WORDS", "db_terminate"]

#: An error line that names the database and what happened to the connection is "clear".
CLEAR_WORDS = ("terminat", "connection", "server closed")

_IN_TX = """
select pid from pg_stat_activity
where datname = :d and pid <> pg_backend_pid() and xact_start is not null
  and state in ('active', 'idle in transaction')"""


def _terminate_in_transaction(db: str, patience: float) -> bool:
    """Terminate the first backend of ``db`` seen inside a transaction; False if none within ``patience``."""
    eng = pg_admin()
    try:
        with eng.connect() as c:
            deadline = time.monotonic() + patience
            while time.monotonic() < deadline:
                pids = list(c.execute(text(_IN_TX), {"d": db}).scalars())
                if pids:
                    c.execute(text("select pg_terminate_backend(:p)"), {"p": pids[0]})
                    return True
            return False
    finally:
        eng.dispose()


def _disturb(forker: Forker, run: JobRun, db: str, rng: random.Random, span: int, kills: int) -> int:
    """Let ``run`` advance a random number of progress lines, terminate its backend; ``kills`` times."""
    done = 0
    for _ in range(kills):
        forker.read(run, progress=rng.randint(0, max(0, span // (kills + 1))), timeout=120)
        if run.finished:
            break
        done += _terminate_in_transaction(db, patience=3.0)
    forker.read(run, timeout=180)
    forker.reap(run)
    return done


def db_terminate(
    world: World, forker: Forker, *, trials: int, jobs: Sequence[str] = ("collect", "remind"), seed: int = 4
) -> CampaignResult:
    res = CampaignResult(
        "fault: PostgreSQL backend killed",
        f"pg_terminate_backend mid-transaction (1–2× per run) during {' and '.join(jobs)}, rerun",
    )
    rng = random.Random(seed)
    started = time.monotonic()
    args_collect = {"files": [str(p) for p in world.files]}
    args_remind = {"stage": "due", "when": WHEN.isoformat()}
    try:
        reference = collect_reference(world, forker)
        expected = remind_reference(world, forker, "half", "due")
    except RuntimeError as exc:
        res.problem(str(exc))
        return res
    outcomes: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    hits = 0
    for i in range(trials):
        job = jobs[i % len(jobs)]
        state = "fresh" if job == "collect" else "half"
        label = f"trial {i} ({job})"
        with world.trial_of(state, "postgresql") as t:
            assert t.pg_name is not None
            srv = (
                LoopbackSmtpServer(t.home / "mail", keep_in_memory=False).start() if job == "remind" else None
            )
            try:
                env = {**t.env(world), **(smtp_env(srv.port) if srv else {})}
                args = args_collect if job == "collect" else args_remind
                span = len(world.files) if job == "collect" else len(expected)
                run = forker.start(job, env, args)
                kills = _disturb(forker, run, t.pg_name, rng, span, rng.choice((1, 1, 2)))
                hits += kills
                if run.error:
                    outcomes["stopped with an error"] += 1
                    messages[run.error.split(":", 1)[0]] += 1
                    if not any(w in run.error.lower() for w in CLEAR_WORDS):
                        res.problem(f"{label}: unclear error message: {run.error}")
                elif run.done is not None:
                    outcomes["finished"] += 1
                else:
                    res.problem(f"{label}: neither finished nor failed: {run.lines[-3:]}")
                rerun = forker.run(job, env, args)
                if rerun.error or rerun.done is None:
                    res.problem(f"{label}: rerun did not finish: {rerun.error}")
                store = Store(t.url)
                try:
                    for p in integrity_problems(
                        store, notices_final=job == "remind", raw_files=job == "collect"
                    ):
                        res.problem(f"{label}: {p}")
                    if job == "collect":
                        lost, dup, notes = compare(reference, snapshot(store))
                        res.lost += lost
                        res.duplicated += dup
                        for n in notes:
                            res.problem(f"{label}: {n}")
                    else:
                        assert srv is not None
                        counts = Counter(srv.message_ids())
                        res.lost += len(expected - set(counts))
                        res.duplicated += sum(c - 1 for c in counts.values())
                        res.allowed_duplicates += kills
                        if any(c > 2 for c in counts.values()):
                            res.problem(f"{label}: a notice arrived more than twice")
                finally:
                    store.dispose()
            finally:
                if srv is not None:
                    srv.stop()
        res.trials += 1
    res.counts.update(terminated=hits, **{k.split()[0]: v for k, v in outcomes.items()})
    res.notes.append(
        f"{hits} backend(s) terminated inside a transaction; runs: "
        + ", ".join(f"{n} {k}" for k, n in outcomes.items())
        + "; errors reported: "
        + (", ".join(f"{k} ×{n}" for k, n in messages.items()) or "none")
    )
    res.seconds = time.monotonic() - started
    return res
