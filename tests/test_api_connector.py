"""The JSON REST connector against a real HTTP server on loopback that misbehaves on purpose.

A ``Sink`` plays the store: it keeps records by (source, record id, content hash) and takes a
page's watermark only after the page's records are in. The promise under test: whatever the
server does, every record is stored exactly once and the watermark ends at the max updated_at.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.api import (
    ApiSourceUnavailable,
    Page,
    SourceConfig,
    fetch_pages,
    get_source,
    load_sources,
    map_record,
    resolve_token,
    retry_after_seconds,
)
from connectors.api.config import MAPPABLE_FIELDS
from connectors.api.loopback import Fault, LoopbackApi
from duban.domain import FIELDS
from duban.errors import ConfigError, SourceUnavailable
from duban.settings import REPO_ROOT

TOKEN = "tok-9f3a1c77"
CST = timezone(timedelta(hours=8))
BASE = datetime(2026, 12, 20, 9, 0, tzinfo=CST)
UNITS = ["市大数据局", "市发展改革委", "市财政局", "市公安局"]


def make_records(n: int, *, start: int = 0, minute0: int = 0) -> list[dict[str, Any]]:
    """Unit progress records; two records share each updated_at, so watermark ties are real."""
    out = []
    for i in range(start, start + n):
        out.append(
            {
                "id": f"r{i:03d}",
                "task_code": f"T{i % 43 + 1:02d}",
                "org_name": UNITS[i % len(UNITS)],
                "period": "2026Q4",
                "status": "推进中",
                "progress": 10 + i % 90,
                "progress_text": f"第{i}项工作稳步推进",
                "issues": "",
                "next_plan": "继续推进",
                "coordination": "",
                "reporter": "张三",
                "phone": "0578-1234567",
                "updated_at": (BASE + timedelta(minutes=minute0 + i // 2)).isoformat(),
            }
        )
    return out


def source(base_url: str, *, style: str = "cursor", size: int = 5, **extra: Any) -> SourceConfig:
    pagination: dict[str, Any] = (
        {"style": "cursor", "limit": size} if style == "cursor" else {"style": "page", "size": size}
    )
    spec: dict[str, Any] = {
        "name": "zzd_test",
        "base_url": base_url,
        "path": "/api/v1/progress",
        "auth": {"env": "DUBAN_TEST_TOKEN", "prefect_secret": "zzd-test-token"},
        "pagination": pagination,
        "watermark": {"field": "updated_at", "param": "updated_since"},
        "fields": {
            "item_id": "task_code",
            "unit": "org_name",
            "period": "period",
            "status": "status",
            "progress": "progress",
            "narrative": "progress_text",
            "problems": "issues",
        },
        "timeout_s": 0.3,
        "retries": 5,
        "backoff_s": 0.5,
    }
    spec.update(extra)
    return SourceConfig.model_validate(spec)


class Sink:
    """Stands in for the store: dedupes by (source, id, content hash); watermark after records."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.received: list[tuple[str, str]] = []
        self.watermark: str | None = None
        self.pages: list[Page] = []
        self.sleeps: list[float] = []

    def store(self, page: Page) -> None:
        for rec in page.records:
            self.received.append((rec.record_id, rec.content_hash))
            self.stored.setdefault((rec.source, rec.record_id, rec.content_hash), rec.raw)
        if page.watermark is not None:
            stored_max = max(raw["updated_at"] for raw in self.stored.values())
            assert page.watermark <= stored_max, "watermark ahead of the stored records"
            assert self.watermark is None or page.watermark >= self.watermark, "watermark went back"
            self.watermark = page.watermark
        self.pages.append(page)

    def run(self, src: SourceConfig, *, token: str | None = TOKEN, sleep: Any = None) -> None:
        for page in fetch_pages(src, since=self.watermark, token=token, sleep=sleep or self.sleeps.append):
            self.store(page)

    def latest(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for (_, rid, _), raw in sorted(self.stored.items(), key=lambda kv: kv[1]["updated_at"]):
            out[rid] = raw
        return out


def assert_each_once(sink: Sink, records: list[dict[str, Any]]) -> None:
    dupes = [k for k, n in Counter(sink.received).items() if n > 1]
    assert not dupes, f"records yielded twice in one run: {dupes}"
    assert sink.latest() == {r["id"]: r for r in records}
    assert sink.watermark == max(r["updated_at"] for r in records)


def per_page(api: LoopbackApi) -> Counter[int | None]:
    return Counter(e.page for e in api.requests)


# -- the main promise --------------------------------------------------------------------------


def test_faults_on_every_page_lose_nothing_and_double_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    records = make_records(23)
    faults = [
        Fault("timeout", page=2, delay_s=10),
        Fault("status", page=3, status=429, headers={"Retry-After": "7"}),
        Fault("repeat", page=3),
        Fault("status", page=4, status=500, times=2),
        Fault("truncate", page=5),
    ]
    with LoopbackApi(records, token=TOKEN, page_size=5, faults=faults) as api:
        sink = Sink()
        sink.run(source(api.base_url))
        assert_each_once(sink, records)
        assert len(sink.stored) == 23
        assert per_page(api) == {1: 1, 2: 2, 3: 3, 4: 3, 5: 2}
        assert all(f.times == 0 for f in api.faults)
    assert 7.0 in sink.sleeps, "Retry-After was not honoured"
    assert len(sink.sleeps) == 6
    assert [p.watermark is not None for p in sink.pages] == [True] * 5 and sink.pages[-1].final
    assert TOKEN not in caplog.text
    assert "retry" in caplog.text and "duban.api" in {r.name for r in caplog.records}


def test_real_retry_after_of_one_second_is_waited_for() -> None:
    records = make_records(4)
    with LoopbackApi(
        records,
        token=TOKEN,
        page_size=2,
        faults=[Fault("status", page=2, status=429, headers={"Retry-After": "1"})],
    ) as api:
        sink = Sink()
        sink.run(source(api.base_url, size=2, backoff_s=0), sleep=time.sleep)
        assert_each_once(sink, records)
        refused, retried = api.requests[1], api.requests[2]
        assert (refused.status, retried.status) == (429, 200)
        assert retried.at - refused.at >= 1.0


def test_retry_after_as_http_date_is_honoured() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    records = make_records(3)
    with LoopbackApi(
        records,
        token=TOKEN,
        page_size=5,
        faults=[Fault("status", page=1, status=503, headers={"Retry-After": when})],
    ) as api:
        sink = Sink()
        sink.run(source(api.base_url, backoff_s=0))
    assert_each_once(sink, records)
    assert len(sink.sleeps) == 1 and 0 < sink.sleeps[0] <= 3


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(" 0 ") == 0
    assert retry_after_seconds("Mon, 05 Jan 2026 08:00:30 GMT", now=now) == 30
    assert retry_after_seconds("Mon, 05 Jan 2026 07:00:00 GMT", now=now) == 0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_incremental_run_fetches_only_from_the_watermark() -> None:
    first = make_records(12)
    with LoopbackApi(first, token=TOKEN, page_size=5) as api:
        sink = Sink()
        sink.run(source(api.base_url))
        wm = sink.watermark
        assert wm == first[-1]["updated_at"]
        edited = {**first[3], "progress": 95, "updated_at": (BASE + timedelta(hours=2)).isoformat()}
        later = make_records(6, start=12, minute0=60)
        api.upsert(edited, *later)
        n_before = len(api.requests)
        before = dict(sink.stored)
        sink.received.clear()
        sink.run(source(api.base_url))
        second = api.requests[n_before:]
    assert {e.query.get("updated_since") for e in second} == {wm}
    got = [rid for rid, _ in sink.received]
    # the inclusive filter re-sends only the records at the boundary timestamp, nothing older
    boundary = {r["id"] for r in first if r["updated_at"] == wm}
    assert set(got) == boundary | {r["id"] for r in later} | {"r003"}
    new_keys = set(sink.stored) - set(before)
    assert {k[1] for k in new_keys} == {r["id"] for r in later} | {"r003"}
    assert sink.latest()["r003"]["progress"] == 95
    assert sink.watermark == edited["updated_at"]


def test_a_crash_while_storing_a_page_is_recovered_by_the_next_run() -> None:
    records = make_records(15)
    with LoopbackApi(records, token=TOKEN, page_size=5) as api:
        sink = Sink()
        with pytest.raises(RuntimeError, match="disk full"):
            for page in fetch_pages(source(api.base_url), since=None, token=TOKEN, sleep=sink.sleeps.append):
                if page.number == 2:
                    raise RuntimeError("disk full")  # page 2 never reaches the store
                sink.store(page)
        assert len(sink.stored) == 5 and sink.watermark == records[4]["updated_at"]
        sink.received.clear()
        sink.run(source(api.base_url))
    assert sink.latest() == {r["id"]: r for r in records}
    assert sink.watermark == records[-1]["updated_at"]


def test_record_changed_between_retries_on_cursor_pages() -> None:
    records = make_records(15)
    edited = {**records[1], "progress": 99, "updated_at": (BASE + timedelta(hours=1)).isoformat()}
    with LoopbackApi(
        records, token=TOKEN, page_size=5, faults=[Fault("change", page=2, record=edited, status=503)]
    ) as api:
        sink = Sink()
        sink.run(source(api.base_url))
    assert_each_once(sink, [*records[:1], *records[2:], edited])
    assert {k[1] for k in sink.stored}.issuperset(r["id"] for r in records)
    assert len(sink.stored) == 16  # r001 in both versions, history kept


# -- page-numbered APIs ------------------------------------------------------------------------


def test_page_style_with_faults_gives_the_watermark_once_stable() -> None:
    records = make_records(20)
    faults = [
        Fault("status", request=2, status=502),
        Fault("repeat", request=4),
        Fault("truncate", request=5),
    ]
    with LoopbackApi(records, token=TOKEN, page_size=5, style="page", faults=faults) as api:
        sink = Sink()
        sink.run(source(api.base_url, style="page"))
        assert [e.query["page"] for e in api.requests] == ["1", "2", "2", "3", "3", "3", "4"]
    assert_each_once(sink, records)
    assert [p.watermark for p in sink.pages[:-1]] == [None] * 3
    assert sink.pages[-1].final and sink.pages[-1].watermark == records[-1]["updated_at"]


def test_page_style_catches_a_record_that_shifted_between_pages() -> None:
    records = make_records(20)
    # r002 is edited while page 3 is being fetched: it moves to the end, everything after its old
    # place shifts back one, and offset paging alone would never see r010.
    edited = {**records[2], "progress": 99, "updated_at": (BASE + timedelta(hours=1)).isoformat()}
    with LoopbackApi(
        records,
        token=TOKEN,
        page_size=5,
        style="page",
        faults=[Fault("change", page=3, record=edited, status=503)],
    ) as api:
        sink = Sink()
        sink.run(source(api.base_url, style="page"))
        pages_asked = [e.query["page"] for e in api.requests if e.status == 200]
    assert pages_asked == ["1", "2", "3", "4", "1", "2", "3", "4"]  # a second, stable pass
    assert_each_once(sink, [*records[:2], *records[3:], edited])
    assert all(p.watermark is None for p in sink.pages[:-1])


def test_client_side_watermark_filter_without_a_server_parameter() -> None:
    records = make_records(10)
    with LoopbackApi(records, token=TOKEN, page_size=4, style="page") as api:
        src = source(api.base_url, style="page", size=4, watermark={"field": "updated_at"})
        sink = Sink()
        sink.watermark = records[6]["updated_at"]
        sink.run(src)
        assert all("updated_since" not in e.query for e in api.requests)
    assert {rid for rid, _ in sink.received} == {
        r["id"] for r in records if r["updated_at"] >= records[6]["updated_at"]
    }


# -- failures that must be reported, not hidden -----------------------------------------------


def test_exhausted_retries_raise_with_count_and_last_error_then_a_rerun_completes() -> None:
    records = make_records(15)
    with LoopbackApi(
        records, token=TOKEN, page_size=5, faults=[Fault("status", page=3, status=503, times=100)]
    ) as api:
        sink = Sink()
        with pytest.raises(SourceUnavailable) as info:
            sink.run(source(api.base_url, retries=3))
        err = info.value
        assert isinstance(err, ApiSourceUnavailable) and (err.attempts, err.status) == (4, 503)
        for part in ("zzd_test", "/api/v1/progress", "4 attempts", "HTTP 503", "injected HTTP 503"):
            assert part in str(err)
        assert sink.sleeps == [0.5, 1.0, 2.0]
        assert len(sink.stored) == 10 and sink.watermark == records[9]["updated_at"]
        api.set_faults()
        sink.received.clear()
        sink.run(source(api.base_url))
    assert sink.latest() == {r["id"]: r for r in records}
    assert sink.watermark == records[-1]["updated_at"]


def test_truncated_json_is_retried_and_never_stored_in_part() -> None:
    records = make_records(10)
    with LoopbackApi(records, token=TOKEN, page_size=5, faults=[Fault("truncate", page=2, times=100)]) as api:
        sink = Sink()
        with pytest.raises(SourceUnavailable, match=r"invalid JSON") as info:
            sink.run(source(api.base_url, retries=2))
        assert "3 attempts" in str(info.value) and "HTTP 200" in str(info.value)
        assert per_page(api) == {1: 1, 2: 3}
    assert {k[1] for k in sink.stored} == {r["id"] for r in records[:5]}


def test_backoff_is_exponential_and_capped_on_connection_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = Sink()
    with pytest.raises(SourceUnavailable, match=r"6 attempts.*ConnectError"):
        sink.run(source(f"http://127.0.0.1:{port}", backoff_s=1, backoff_cap_s=5))
    assert sink.sleeps == [1, 2, 4, 5, 5]


def test_wrong_token_fails_at_once_naming_the_env_var_not_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with LoopbackApi(make_records(3), token="the-right-one", page_size=5) as api:
        with pytest.raises(SourceUnavailable) as info:
            Sink().run(source(api.base_url))
        assert len(api.requests) == 1
    msg = str(info.value)
    assert "HTTP 401" in msg and "DUBAN_TEST_TOKEN" in msg and "zzd-test-token" in msg
    assert TOKEN not in msg and TOKEN not in caplog.text


def test_missing_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="DUBAN_TEST_TOKEN"):
        Sink().run(source("http://127.0.0.1:9"), token=None)


def test_other_4xx_and_long_retry_after_fail_without_retrying() -> None:
    with LoopbackApi(make_records(3), token=TOKEN) as api:
        sink = Sink()
        with pytest.raises(SourceUnavailable, match=r"HTTP 404.*no such endpoint"):
            sink.run(source(api.base_url, path="/api/v2/nothing"))
        api.set_faults(Fault("status", page=1, status=429, headers={"Retry-After": "3600"}))
        with pytest.raises(SourceUnavailable, match=r"wait 3600 s \(Retry-After\)"):
            sink.run(source(api.base_url))
        assert len(api.requests) == 2 and sink.sleeps == []


def test_a_server_that_always_repeats_a_page_is_reported() -> None:
    with LoopbackApi(
        make_records(10), token=TOKEN, page_size=5, faults=[Fault("repeat", page=2, times=100)]
    ) as api:
        with pytest.raises(SourceUnavailable, match="repeated a page"):
            Sink().run(source(api.base_url, retries=2))
        assert per_page(api)[2] == 3


# -- configuration and mapping -----------------------------------------------------------------


def test_repo_sources_yaml_is_valid_and_url_can_be_overridden() -> None:
    path = REPO_ROOT / "config" / "sources.yaml"
    src = get_source(load_sources(path), "zzd_progress")
    assert src.pagination.style == "cursor" and src.auth is not None and src.auth.env == "DUBAN_ZZD_TOKEN"
    assert set(src.fields) <= MAPPABLE_FIELDS
    moved = get_source(
        load_sources(path, env={"DUBAN_SOURCE_ZZD_PROGRESS_URL": "http://127.0.0.1:5001/"}), "zzd_progress"
    )
    assert moved.url == "http://127.0.0.1:5001/api/v1/progress"
    with pytest.raises(ConfigError, match=r"unknown API source 'nope'.*zzd_progress"):
        get_source([src], "nope")


def test_sources_yaml_defaults_to_the_settings_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DUBAN_CONFIG_DIR", str(tmp_path))
    from duban.settings import get_settings

    get_settings.cache_clear()
    assert load_sources() == []  # no sources.yaml: no sources


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "sources.yaml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """
sources:
  - name: {name}
    base_url: http://127.0.0.1:1
    auth: {auth}
    pagination: {pagination}
    fields: {fields}
"""


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"pagination": "{style: offset}"}, "pagination"),
        ({"auth": "{env: X, token: abc}"}, "secrets never live in sources.yaml"),
        ({"auth": "{header: X-Key}"}, "auth needs env"),
        ({"fields": "{item_id: a, colour: b}"}, "unknown canonical field"),
        ({"fields": "{unit: a}"}, "must map item_id"),
        ({"name": "Bad Name"}, "name"),
    ],
)
def test_bad_sources_yaml_names_file_source_and_key(
    tmp_path: Path, override: dict[str, str], expected: str
) -> None:
    values = {
        "name": "unit_api",
        "auth": "{env: UNIT_TOKEN}",
        "pagination": "{style: page}",
        "fields": "{item_id: code}",
        **override,
    }
    path = write(tmp_path, GOOD.format(**values))
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    msg = str(info.value)
    assert str(path) in msg and values["name"] in msg and expected in msg


def test_broken_yaml_and_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sources(write(tmp_path, "sources: [\n"))
    one = GOOD.format(name="a", auth="{env: T}", pagination="{style: page}", fields="{item_id: c}")
    with pytest.raises(ConfigError, match=r"\['a'\] appear more than once"):
        load_sources(write(tmp_path, one + one.replace("sources:\n", "")))


def test_resolve_token_reads_only_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    src = source("http://127.0.0.1:1")
    assert resolve_token(src) is None
    monkeypatch.setenv("DUBAN_TEST_TOKEN", f"  {TOKEN}\n")
    assert resolve_token(src) == TOKEN
    assert resolve_token(src, env={"DUBAN_TEST_TOKEN": ""}) is None
    assert resolve_token(source("http://127.0.0.1:1", auth=None)) is None


def test_mapping_keeps_raw_values_and_the_whole_record() -> None:
    src = source(
        "http://127.0.0.1:1",
        record_id="meta.uid",
        fields={"item_id": "task.code", "unit": "org", "period": "period", "progress": "pct"},
    )
    raw = {
        "meta": {"uid": 7},
        "task": {"code": "T05"},
        "org": " 市财政局 ",
        "period": "2026Q4",
        "pct": "八成",
        "updated_at": "2026-12-20T09:00:00+08:00",
    }
    rec = map_record(src, raw)
    assert (rec.record_id, rec.unit, rec.period, rec.updated_at) == (
        "7",
        "市财政局",
        "2026Q4",
        raw["updated_at"],
    )
    assert rec.values == {"item_id": "T05", "unit": " 市财政局 ", "progress": "八成"}
    assert set(rec.values) <= set(FIELDS) and rec.raw is raw
    table = rec.to_sheet_table()
    assert (
        table.rows[0].values["progress"] == "八成"
        and table.unit_hint == "市财政局"
        and table.period_hint == "2026Q4"
    )
    anonymous = map_record(src, {"task": {"code": "T01"}})
    assert anonymous.record_id == f"sha256:{anonymous.content_hash}"
