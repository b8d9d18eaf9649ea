"""The loopback reporting API itself: pagination, filter, auth and each injected fault.

The connector tests lean on this server, so its behaviour is pinned here with plain httpx.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from connectors.api.loopback import Fault, LoopbackApi


def recs(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"r{i:02d}", "updated_at": f"2026-12-20T09:{i // 2:02d}:00+08:00", "v": i} for i in range(n)
    ]


def walk_cursor(api: LoopbackApi, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client() as c:
        while True:
            q = dict(params, **({"cursor": cursor} if cursor else {}))
            body = c.get(api.url, params=q).json()
            out.extend(body["data"])
            cursor = body["next_cursor"]
            if cursor is None:
                return out


def test_cursor_pages_serve_every_record_once_in_order() -> None:
    data = recs(12)
    with LoopbackApi(list(reversed(data)), page_size=5) as api:
        got = walk_cursor(api)
        assert [r["id"] for r in got] == [r["id"] for r in data]
        assert [e.page for e in api.requests] == [1, 2, 3]
        assert all(e.status == 200 for e in api.requests)


def test_limit_is_capped_by_page_size_and_since_filter_is_inclusive() -> None:
    data = recs(10)
    with LoopbackApi(data, page_size=4) as api:
        got = walk_cursor(api, limit=100, updated_since="2026-12-20T09:02:00+08:00")
        assert [r["id"] for r in got] == ["r04", "r05", "r06", "r07", "r08", "r09"]
        assert len(api.requests) == 2  # 4 + 2


def test_page_style_reports_total_and_size() -> None:
    with LoopbackApi(recs(7), page_size=3, style="page") as api, httpx.Client() as c:
        p3 = c.get(api.url, params={"page": 3, "size": 10}).json()
        assert p3["total"] == 7 and p3["size"] == 3 and [r["id"] for r in p3["data"]] == ["r06"]
        assert c.get(api.url, params={"page": 4}).json()["data"] == []
        assert c.get(api.url, params={"page": 0}).status_code == 400


def test_auth_header_is_required_when_a_token_is_set() -> None:
    with LoopbackApi(recs(2), token="t0k", page_size=5) as api, httpx.Client() as c:
        assert c.get(api.url).status_code == 401
        assert c.get(api.url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get(api.url, headers={"Authorization": "Bearer t0k"})
        assert ok.status_code == 200 and len(ok.json()["data"]) == 2
        assert [e.authorized for e in api.requests] == [False, False, True]
    with LoopbackApi(recs(1), token="k", header="X-Api-Key", scheme=None) as api, httpx.Client() as c:
        assert c.get(api.url, headers={"X-Api-Key": "k"}).status_code == 200


def test_unknown_path_bad_cursor_and_health() -> None:
    with LoopbackApi(recs(1)) as api, httpx.Client() as c:
        assert c.get(api.base_url + "/nope").status_code == 404
        assert c.get(api.url, params={"cursor": "!!"}).status_code == 400
        assert c.get(api.base_url + "/healthz").text == "ok"
        assert len(api.requests) == 2  # health checks are not logged


def test_status_fault_with_headers_fires_the_given_number_of_times() -> None:
    faults = [Fault("status", page=1, status=429, headers={"Retry-After": "3"}, times=2)]
    with LoopbackApi(recs(3), faults=faults) as api, httpx.Client() as c:
        first, second, third = (c.get(api.url) for _ in range(3))
        assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
        assert first.headers["Retry-After"] == "3"
        assert [e.fault for e in api.requests] == ["status", "status", None]


def test_truncate_repeat_and_change_faults() -> None:
    data = recs(6)
    faults = [
        Fault("truncate", request=1),
        Fault("repeat", request=3),
        Fault(
            "change",
            request=4,
            record={**data[0], "updated_at": "2026-12-21T00:00:00+08:00", "v": 99},
            status=503,
        ),
    ]
    with LoopbackApi(data, page_size=2, faults=faults) as api, httpx.Client() as c:
        cut = c.get(api.url)
        with pytest.raises(json.JSONDecodeError):
            json.loads(cut.content)
        page1 = c.get(api.url)
        repeated = c.get(api.url, params={"cursor": page1.json()["next_cursor"]})
        assert repeated.content == page1.content
        changed = c.get(api.url)
        assert changed.status_code == 503
        assert api.records[-1] == {**data[0], "updated_at": "2026-12-21T00:00:00+08:00", "v": 99}
        assert [r["id"] for r in c.get(api.url).json()["data"]] == ["r01", "r02"]


def test_timeout_fault_leaves_the_client_waiting() -> None:
    with LoopbackApi(recs(2), faults=[Fault("timeout", page=1, delay_s=30)]) as api, httpx.Client() as c:
        with pytest.raises(httpx.TimeoutException):
            c.get(api.url, timeout=0.3)
        assert c.get(api.url, timeout=5).status_code == 200
        assert [(e.fault, e.status) for e in api.requests] == [("timeout", 0), (None, 200)]


def test_concurrent_requests_are_all_logged_once() -> None:
    with LoopbackApi(recs(20), page_size=5) as api:

        def hit() -> None:
            with httpx.Client() as c:
                for _ in range(5):
                    assert c.get(api.url).status_code == 200

        threads = [threading.Thread(target=hit) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(e.index for e in api.requests) == list(range(1, 21))


def test_base_url_needs_a_running_server() -> None:
    api = LoopbackApi(recs(1))
    with pytest.raises(RuntimeError, match="not running"):
        _ = api.base_url
    api.start()
    try:
        assert api.base_url.startswith("http://127.0.0.1:")
    finally:
        api.stop()
