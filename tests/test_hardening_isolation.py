"""A notice, template or attachment for one unit never holds another unit's rows.

The property (hardening.isolation) over the seed's units: for any mix of units that
submitted last period (pre-filling their templates), submitted this period with invalid
values (quoted back in their notices), or did not submit, every message of a notice stage
carries marks of its addressee only, and its template lists exactly the addressee's items.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import pytest

from duban_app.context import AppContext
from duban_app.notices import run_stage
from hardening.crash import WHEN
from hardening.isolation import check_messages, isolation, mark, seed_state
from hardening.world import World, shared_world, world_cache_dir


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = shared_world(world_cache_dir(tmp_path_factory.getbasetemp()), tmp_path_factory.mktemp("scratch"))
    yield w
    w.close()


@pytest.mark.slow
def test_no_notice_or_template_shows_another_units_rows(world: World) -> None:
    res = isolation(world, examples=2, seed_value=31, stages=("open", "due"))
    assert res.problems == [], "\n".join(res.problems)
    assert res.counts["messages"] > 40 and res.counts["quoting_own_rows"] > 0


def test_the_check_catches_a_template_sent_to_the_wrong_unit(world: World, tmp_path: Path) -> None:
    marks = {u: mark(i) for i, u in enumerate(world.units)}
    with world.trial_of("fresh") as t:
        ctx = AppContext(t.settings(world))
        try:
            seed_state(ctx, {u: "previous" for u in world.units}, marks)
            outbox = tmp_path / "outbox"
            run_stage(ctx, "2026Q4", "open", dry_run=True, outbox_dir=outbox, when=lambda: WHEN)
            n, own, problems = check_messages(ctx, outbox, marks)
            assert n == len(world.units) and own == n and problems == []
            a, b = (
                email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                for p in sorted(outbox.glob("*.eml"))[:2]
            )
            b.replace_header("To", str(a["To"]))  # unit B's notice, template and rows, addressed to A
            swapped = tmp_path / "swapped"
            swapped.mkdir()
            (swapped / "swapped.eml").write_bytes(b.as_bytes())
            _, _, leaks = check_messages(ctx, swapped, marks)
        finally:
            ctx.close()
    assert leaks, "a message carrying another unit's template and rows went unnoticed"
