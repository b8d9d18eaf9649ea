"""SIGKILL during collect, reconcile and remind, and PostgreSQL backends killed mid-transaction.

A trial or two of each ``make soak`` campaign (hardening.crash, hardening.dbfault) on the
seed plan and the demo's generated quarter (collect on SQLite and PostgreSQL, reconcile and
remind on SQLite; the soak runs every campaign on both): after a rerun the store
equals an undisturbed run (no half submission, no orphan row), every notice is sent, and only
the notice in flight at a kill may arrive twice. The checks themselves are shown to catch a
broken store, so a passing campaign means something.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from duban.store.db import Store
from hardening.checks import compare, integrity_problems, snapshot
from hardening.crash import crash_collect, crash_reconcile, crash_remind
from hardening.dbfault import db_terminate
from hardening.forker import Forker
from hardening.world import World, shared_world, world_cache_dir

pytestmark = pytest.mark.slow

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = shared_world(world_cache_dir(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("scratch"))
    yield w
    w.close()


@pytest.fixture(scope="module")
def forker(world: World) -> Iterator[Forker]:
    with Forker((world.scratch or world.root) / "child.log") as f:
        yield f


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("pg_url")  # skips (or fails under CI=true) when PostgreSQL is absent
    return request.param


def _clean(res) -> None:
    assert res.problems == [], "\n".join(res.problems)
    assert res.lost == 0
    assert res.duplicated <= res.allowed_duplicates


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_sigkill_during_collect_then_rerun_stores_every_file_once(
    world: World, forker: Forker, backend: str
) -> None:
    trials = 2 if backend == "sqlite" else 1  # a PostgreSQL trial costs a database
    res = crash_collect(world, forker, trials=trials, backends=(backend,), seed=11)
    _clean(res)
    assert res.trials == trials and res.duplicated == 0


def test_sigkill_during_reconcile_leaves_all_old_or_all_new_findings(world: World, forker: Forker) -> None:
    res = crash_reconcile(world, forker, trials=2, backends=("sqlite",), seed=12)
    _clean(res)
    assert (
        res.counts.get("mixed", 0) == 0 and res.counts.get("old", 0) + res.counts.get("new", 0) == res.trials
    )


def test_sigkill_during_remind_then_rerun_sends_each_notice_at_most_twice(
    world: World, forker: Forker
) -> None:
    res = crash_remind(world, forker, trials=1, backends=("sqlite",), stages=("due",), seed=13)
    _clean(res)
    assert res.trials == 1 and res.allowed_duplicates <= 1


@pytest.mark.postgres
def test_backend_terminated_mid_transaction_then_rerun_completes(
    world: World, forker: Forker, pg_url: str
) -> None:
    res = db_terminate(world, forker, trials=2, seed=14)
    _clean(res)
    assert res.counts["terminated"] >= 1


def test_the_checks_catch_an_orphan_row_a_half_submission_and_a_lost_item(world: World) -> None:
    with world.trial_of("half") as t:
        store = Store(t.url)
        try:
            reference = snapshot(store)
            assert integrity_problems(store) == []
            with store.engine.begin() as c:
                c.execute(text("PRAGMA foreign_keys=OFF"))
                sid = c.execute(text("select min(id) from submission where state = 'accepted'")).scalar_one()
                c.execute(text("delete from submission_item where submission_id = :s"), {"s": sid})
                c.execute(text("delete from finding where submission_id = :s"), {"s": sid})
                c.execute(
                    text(
                        "update submission_item set submission_id = 999999 where id = "
                        "(select max(id) from submission_item)"
                    )
                )
            problems = integrity_problems(store)
            lost, dup, notes = compare(reference, snapshot(store))
        finally:
            store.dispose()
    assert any("whose submission does not exist" in p for p in problems)
    assert any(p.startswith("half submission") for p in problems)
    assert lost >= 2 and dup == 1 and notes  # the moved item: lost where it was, extra under no submission


def test_a_killed_job_is_reported_as_killed_and_a_finished_one_as_done(world: World, forker: Forker) -> None:
    with world.trial_of("stale") as t:
        done = forker.run("reconcile", t.env(world), {})
        assert done.done is not None and done.error is None and done.status == 0
        run = forker.start("collect", t.env(world), {"files": [str(p) for p in world.files]})
        forker.read(run, progress=0)
        forker.kill(run)
        forker.reap(run)
        assert run.killed and not run.finished and run.status is not None and run.status != 0


def test_world_files_arrive_in_order_with_their_arrival_times(world: World) -> None:
    stamps = [p.stat().st_mtime for p in world.files]
    assert stamps == sorted(stamps) and len(world.files) > 20 and len(world.units) > 40
    assert all(Path(p).exists() for p in world.files)
