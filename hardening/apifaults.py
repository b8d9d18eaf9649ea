"""API faults during ``collect_api``: timeouts, 429, 500, truncated JSON, a repeated page, a page that
changes between retries, and a source that stays down.

Each scenario serves one record per (unit, item) of the seed catalogue from the loopback API
(cursor or page pagination, 20 records a page) with injected faults, runs the real
``collect_api`` (the configured client, mapping, validation and store), and — if the run
stopped with ``SourceUnavailable`` — clears the faults and reruns, as an operator would. Then
every record the server holds is stored in its latest version and accepted, no record has two
accepted versions, nothing is stored twice, and one more run adds nothing.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from connectors.api import content_hash
from connectors.api.loopback import Fault, LoopbackApi
from duban.errors import SourceUnavailable
from duban.store.db import Store
from duban.store.models import SubmissionRow
from duban_app.collect import collect_api
from duban_app.context import AppContext
from hardening.crash import WHEN
from hardening.report import CampaignResult
from hardening.world import PERIOD, World, settings_for

__all__ = ["API_SCENARIOS", "TOKEN", "api_faults", "api_records", "write_sources"]

TOKEN = "hardening-api-token-0f3c9a"
PAGE = 20


def api_records(world: World) -> list[dict[str, Any]]:
    """One record per (unit, item) assignment of the seed catalogue, updated over the window."""
    from duban.reconcile import expected_pairs

    with world.trial_of("fresh") as t:
        ctx = AppContext(t.settings(world))
        try:
            catalogue, _ = ctx.catalogue()
        finally:
            ctx.close()
    out = []
    for n, (item_id, unit, _role) in enumerate(expected_pairs(catalogue)):
        stamp = WHEN - timedelta(days=5) + timedelta(minutes=7 * n)
        out.append(
            {
                "id": f"{PERIOD}-{unit}-{item_id}",
                "task_code": item_id,
                "org_name": unit,
                "period": PERIOD,
                "status": "推进中",
                "progress": 40 + n % 50,
                "progress_text": f"{unit}推进{item_id}，完成阶段目标{n}项。",
                "issues": "",
                "next_plan": "继续推进。",
                "reporter": "王科员",
                "phone": "0578-2123456",
                "updated_at": stamp.isoformat(),
            }
        )
    return out


@dataclass
class ApiScenario:
    name: str
    faults: Callable[[random.Random, list[dict[str, Any]]], list[Fault]]
    must_stop: bool = False  # the first run is expected to give up (source down)


def _changed(rng: random.Random, records: list[dict[str, Any]]) -> dict[str, Any]:
    rec = dict(rng.choice(records[:40]))
    rec["progress_text"] += "（更正）"
    rec["updated_at"] = (WHEN + timedelta(hours=1)).isoformat()  # an edit moves it to the end
    return rec


API_SCENARIOS: tuple[ApiScenario, ...] = (
    ApiScenario("timeout", lambda r, _: [Fault("timeout", page=r.randint(1, 4), delay_s=1.5)]),
    ApiScenario(
        "429 with Retry-After",
        lambda r, _: [
            Fault("status", status=429, headers={"Retry-After": "0"}, page=r.randint(1, 4), times=2)
        ],
    ),
    ApiScenario("500", lambda r, _: [Fault("status", status=500, page=r.randint(1, 4), times=3)]),
    ApiScenario("truncated JSON", lambda r, _: [Fault("truncate", page=r.randint(1, 4), times=2)]),
    ApiScenario("a repeated page", lambda r, _: [Fault("repeat", page=r.randint(2, 4))]),
    ApiScenario(
        "a page that changes between retries",
        lambda r, recs: [Fault("change", page=r.randint(2, 4), status=500, record=_changed(r, recs))],
    ),
    ApiScenario(
        "all of them at once",
        lambda r, recs: [
            Fault("timeout", page=1, delay_s=1.5),
            Fault("status", status=429, headers={"Retry-After": "0"}, page=2),
            Fault("truncate", page=3),
            Fault("repeat", page=4),
            Fault("change", page=5, status=503, record=_changed(r, recs)),
            Fault("status", status=500, page=6),
        ],
    ),
    ApiScenario(
        "source down (503 on every request)",
        lambda _r, _: [Fault("status", status=503, times=10_000)],
        must_stop=True,
    ),
)


def write_sources(config_dir: Path, dest: Path, style: str, page: int = PAGE) -> Path:
    """A copy of ``config_dir`` plus a sources.yaml with fast retries (the URL comes from the env)."""
    shutil.copytree(config_dir, dest)
    pagination = (
        {
            "style": "cursor",
            "cursor_param": "cursor",
            "next_field": "next_cursor",
            "limit_param": "limit",
            "limit": page,
        }
        if style == "cursor"
        else {
            "style": "page",
            "page_param": "page",
            "size_param": "size",
            "size": page,
            "total_field": "total",
        }
    )
    source = {
        "name": "zzd_progress",
        "kind": "rest_json",
        "base_url": "http://127.0.0.1:9",
        "path": "/api/v1/progress",
        "auth": {"header": "Authorization", "scheme": "Bearer", "env": "DUBAN_ZZD_TOKEN"},
        "pagination": pagination,
        "records_field": "data",
        "watermark": {"field": "updated_at", "param": "updated_since"},
        "record_id": "id",
        "fields": {
            "item_id": "task_code",
            "unit": "org_name",
            "period": "period",
            "status": "status",
            "progress": "progress",
            "narrative": "progress_text",
            "problems": "issues",
            "next_steps": "next_plan",
            "reporter": "reporter",
            "phone": "phone",
        },
        "timeout_s": 0.5,
        "retries": 4,
        "backoff_s": 0.01,
        "backoff_cap_s": 0.05,
        "max_retry_after_s": 5,
    }
    (dest / "sources.yaml").write_text(
        yaml.safe_dump({"sources": [source]}, allow_unicode=True), encoding="utf-8"
    )
    return dest


def _collect(world: World, t: Any, cfg: Any, url: str) -> tuple[Any, str | None]:
    import os

    os.environ["DUBAN_SOURCE_ZZD_PROGRESS_URL"] = url
    ctx = AppContext(settings_for(t.home, t.url, cfg))
    try:
        return collect_api(ctx, token=TOKEN), None
    except SourceUnavailable as exc:
        return None, str(exc)
    finally:
        os.environ.pop("DUBAN_SOURCE_ZZD_PROGRESS_URL", None)
        ctx.close()


def api_faults(
    world: World,
    *,
    trials: int,
    seed: int = 6,
    styles: tuple[str, ...] = ("cursor", "page"),
    scenarios: tuple[ApiScenario, ...] = API_SCENARIOS,
    page: int = PAGE,
    limit: int | None = None,
) -> CampaignResult:
    """``trials`` runs of every scenario and paging style; ``limit`` records (all) in pages of ``page``."""
    res = CampaignResult("fault: API", "; ".join(s.name for s in scenarios) + f" ({'/'.join(styles)} paging)")
    rng = random.Random(seed)
    started = time.monotonic()
    records = api_records(world)[:limit]
    stops = injected = 0
    for sc in scenarios:
        for style in styles:
            for k in range(trials):
                label = f"{sc.name}, {style} #{k}"
                with world.trial_of("fresh") as t:
                    cfg = write_sources(world.config_dir, t.home / "config", style, page)
                    faults = sc.faults(rng, records)
                    with LoopbackApi(records, token=TOKEN, page_size=page, style=style, faults=faults) as api:
                        _rep, error = _collect(world, t, cfg, api.base_url)
                        if error is not None:
                            stops += 1
                            if "zzd_progress" not in error or not any(
                                c in error for c in ("HTTP 5", "timed out", "JSON")
                            ):
                                res.problem(f"{label}: unclear failure message: {error}")
                            api.set_faults()
                            _rep, error = _collect(world, t, cfg, api.base_url)
                            if error is not None:
                                res.problem(f"{label}: the rerun failed too: {error}")
                        elif sc.must_stop:
                            res.problem(f"{label}: a source that is down did not stop the run")
                        again, error = _collect(world, t, cfg, api.base_url)
                        if again is not None and again.api_records_new:
                            res.problem(f"{label}: a third run stored {again.api_records_new} more record(s)")
                        fired = sum(1 for r in api.requests if r.fault)
                        if faults and not fired:
                            res.problem(f"{label}: no fault fired; the trial proves nothing")
                        injected += fired
                        _judge(res, label, t.url, api.records)
                res.trials += 1
    res.counts.update(faults=injected, resumed=stops, records=len(records))
    res.notes.append(
        f"{len(records)} records in {-(-len(records) // page)} pages; {injected} faulty responses served; "
        f"{stops} run(s) stopped with SourceUnavailable and were resumed by a rerun"
    )
    res.seconds = time.monotonic() - started
    return res


def _judge(res: CampaignResult, label: str, url: str, served: list[dict[str, Any]]) -> None:
    store = Store(url)
    try:
        with store.session() as s:
            rows = list(
                s.execute(
                    select(SubmissionRow.source_ref, SubmissionRow.sha256, SubmissionRow.state).where(
                        SubmissionRow.source == "zzd_progress"
                    )
                )
            )
    finally:
        store.dispose()
    accepted = Counter(ref for ref, _sha, state in rows if state == "accepted")
    stored = Counter((ref, sha) for ref, sha, _state in rows)
    latest = {(r["id"], content_hash(r)) for r in served}
    accepted_versions = {(ref, sha) for ref, sha, state in rows if state == "accepted"}
    lost = latest - accepted_versions
    res.lost += len(lost)
    res.duplicated += sum(n - 1 for n in stored.values() if n > 1) + sum(
        n - 1 for n in accepted.values() if n > 1
    )
    if lost:
        res.problem(
            f"{label}: {len(lost)} record(s) not stored in their latest version, e.g. {next(iter(lost))[0]}"
        )
    if any(n > 1 for n in accepted.values()):
        res.problem(f"{label}: a record has more than one accepted version")
    if len(stored) > len(served) + 1:  # one record may have had two versions (the change)
        res.problem(f"{label}: {len(stored)} versions stored for {len(served)} records")
