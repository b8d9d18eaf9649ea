"""SMTP, dry-run and IM senders against real servers on 127.0.0.1, through the outbox."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import openpyxl
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from connectors.mail.eml import DryRunSender
from connectors.mail.im import ImSender, ImSendError
from connectors.mail.loopback import (
    DROP,
    FaultEvent,
    FaultPlan,
    LoopbackSmtpServer,
    free_port,
    self_signed_tls,
)
from connectors.mail.smtp import SmtpPermanentError, SmtpSender, SmtpTransientError, connection_class
from duban.errors import ConfigError
from duban.notices.outbox import deliver, plan_notices
from duban.notices.render import NoticeContext, render_notice
from duban.settings import ImConfig, get_settings
from duban.store import Store
from duban.store.models import NoticeRow
from tests.smtp_helpers import MAIL_FROM, WHEN, build_from, make_ctx, make_xlsx, mid, smtp_cfg

pytestmark = pytest.mark.slow  # starts servers; each test still takes well under a second

UNITS = [f"市单位{i:02d}" for i in range(12)]


def addr(unit: str) -> str:
    return f"u{UNITS.index(unit):02d}@example.gov.cn"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LoopbackSmtpServer]:
    with LoopbackSmtpServer(tmp_path / "maildir") as srv:
        yield srv


def _contexts(
    units: list[str] = UNITS, *, attach: bool = False, stage: str = "due"
) -> dict[str, NoticeContext]:
    return {
        u: make_ctx(
            u,
            stage=stage,
            to=[addr(u)],
            attachment=(f"{u}_2026年第四季度_报表.xlsx", make_xlsx(u)) if attach else None,
        )
        for u in units
    }


def _plan(store: Store, contexts: dict[str, NoticeContext], stage: str = "due") -> int:
    return plan_notices(store, "2026Q4", stage, [(u, c.to, mid(u, stage)) for u, c in contexts.items()])


def _rows(store: Store) -> dict[str, NoticeRow]:
    with store.session() as s:
        return {r.unit: r for r in s.scalars(select(NoticeRow))}


def _sender(srv: LoopbackSmtpServer, sleeps: list[float] | None = None, **cfg: object) -> SmtpSender:
    return SmtpSender(
        smtp_cfg(srv.port, **cfg), sleep=(sleeps.append if sleeps is not None else lambda s: None)
    )


# -- the outbox over real SMTP ------------------------------------------------------------


def test_a_batch_arrives_once_over_one_connection_and_a_rerun_sends_nothing(
    store: Store, server: LoopbackSmtpServer
) -> None:
    contexts = _contexts()
    assert _plan(store, contexts) == 12
    submitted = {"市单位05"}  # submits between planning and sending
    build = build_from(contexts, still_missing=lambda u: u not in submitted)
    with _sender(server) as sender:
        report = deliver(store, "2026Q4", "due", build=build, sender=sender)
        assert sender.connections_opened == 1
    assert (report.sent, report.skipped, report.failed) == (11, 1, 0)
    ids = Counter(m["Message-ID"] for m in server.messages)
    assert ids == Counter({mid(u): 1 for u in UNITS if u not in submitted})
    assert _rows(store)["市单位05"].state == "skipped"
    assert {r.state for u, r in _rows(store).items() if u != "市单位05"} == {"sent"}
    # each unit got its own message, at its own address
    assert sorted(rcpts[0] for _, rcpts in server.envelopes) == sorted(
        addr(u) for u in UNITS if u not in submitted
    )

    _plan(store, contexts)  # the stage runs again (plan + deliver)
    with _sender(server) as sender:
        again = deliver(store, "2026Q4", "due", build=build, sender=sender)
        assert sender.connections_opened == 0
    assert (again.sent, again.already_sent) == (0, 11)
    assert server.count == 11
    assert len(server.files()) == 11


def test_received_messages_parse_with_subject_parts_and_an_openable_xlsx(
    sqlite_store: Store, server: LoopbackSmtpServer
) -> None:
    contexts = _contexts(UNITS[:3], attach=True, stage="open")
    _plan(sqlite_store, contexts, stage="open")
    with _sender(server) as sender:
        deliver(sqlite_store, "2026Q4", "open", build=build_from(contexts), sender=sender)
    messages = {m["Message-ID"]: m for m in server.messages}
    assert len(messages) == 3
    for unit in UNITS[:3]:
        msg = messages[mid(unit, "open")]
        assert msg["Subject"] == (
            f"【报送通知】关于报送2026年第四季度《丽水市深化数字政府建设实施方案》工作进展的通知（{unit}）"
        )
        assert "推进政务服务一体化" in msg.get_body(("plain",)).get_content()
        assert "<table" in msg.get_body(("html",)).get_content()
        (att,) = list(msg.iter_attachments())
        assert att.get_filename() == f"{unit}_2026年第四季度_报表.xlsx"
        ws = openpyxl.load_workbook(io.BytesIO(att.get_content())).active
        assert ws["D2"].value == unit  # the unit's own template, nobody else's


def test_421_451_and_a_dropped_connection_are_retried_and_nothing_arrives_twice(
    store: Store, tmp_path: Path
) -> None:
    contexts = _contexts()
    _plan(store, contexts)
    faults = FaultPlan(
        data_replies={3: "421 4.3.2 service busy, closing"},
        message_replies={mid("市单位07"): ["451 4.7.1 greylisted, try again"]},
        drop_at_data={6},
    )
    sleeps: list[float] = []
    with LoopbackSmtpServer(tmp_path / "md", faults=faults) as srv, _sender(srv, sleeps) as sender:
        report = deliver(store, "2026Q4", "due", build=build_from(contexts), sender=sender)
        ids = Counter(m["Message-ID"] for m in srv.messages)
        assert srv.dropped == 1
        assert srv.replies == ["421 4.3.2 service busy, closing", "451 4.7.1 greylisted, try again"]
    assert report.sent == 12 and report.failed == 0
    assert ids == Counter({mid(u): 1 for u in UNITS})
    assert sleeps == [1.0, 1.0, 1.0]  # one backoff per fault, each then succeeded
    assert {r.state for r in _rows(store).values()} == {"sent"}


def test_550_for_a_recipient_fails_that_unit_only(store: Store, server: LoopbackSmtpServer) -> None:
    contexts = _contexts(UNITS[:4])
    contexts["市单位01"].to = ["gone@example.gov.cn"]
    contexts["市单位02"].to = [addr("市单位02"), "gone@example.gov.cn"]
    _plan(store, contexts)
    server._fault = FaultPlan(recipient_replies={"gone@example.gov.cn": "550 5.1.1 mailbox unavailable"})
    with _sender(server) as sender:
        report = deliver(store, "2026Q4", "due", build=build_from(contexts), sender=sender)
    assert (report.sent, report.failed) == (3, 1)
    rows = _rows(store)
    assert rows["市单位01"].state == "failed"
    assert rows["市单位01"].failed_recipients == {"gone@example.gov.cn": "550 5.1.1 mailbox unavailable"}
    assert rows["市单位02"].state == "sent"
    assert rows["市单位02"].failed_recipients == {"gone@example.gov.cn": "550 5.1.1 mailbox unavailable"}
    assert rows["市单位03"].state == "sent"  # the batch went on
    assert sorted(m["Message-ID"] for m in server.messages) == sorted(
        mid(u) for u in ["市单位00", "市单位02", "市单位03"]
    )


def test_a_message_that_keeps_failing_transiently_is_sent_by_a_later_run(
    store: Store, tmp_path: Path
) -> None:
    contexts = _contexts(UNITS[:2])
    _plan(store, contexts)
    faults = FaultPlan(message_replies={mid("市单位01"): ["451 4.3.0 try later"] * 2})
    with LoopbackSmtpServer(tmp_path / "md", faults=faults) as srv:
        with _sender(srv, retries=1) as sender:
            first = deliver(store, "2026Q4", "due", build=build_from(contexts), sender=sender)
        assert (first.sent, first.failed) == (1, 1)
        row = _rows(store)["市单位01"]
        assert row.state == "failed" and not row.failed_recipients and "451" in (row.error or "")
        with _sender(srv, retries=1) as sender:
            second = deliver(store, "2026Q4", "due", build=build_from(contexts), sender=sender)
        assert second.sent == 1
        assert Counter(m["Message-ID"] for m in srv.messages) == Counter({mid(u): 1 for u in UNITS[:2]})


def test_a_dead_server_stops_the_batch_and_loses_nothing(sqlite_store: Store, tmp_path: Path) -> None:
    contexts = _contexts(UNITS[:5])
    _plan(sqlite_store, contexts)
    port = free_port()  # nothing listens here
    with SmtpSender(smtp_cfg(port, retries=1), sleep=lambda s: None) as sender:
        report = deliver(sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=sender)
    assert report.sent == 0 and report.failed == 3 and report.pending == 2 and report.stopped
    with LoopbackSmtpServer(tmp_path / "md", port=port) as srv, _sender(srv) as sender:
        later = deliver(sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=sender)
        assert later.sent == 5 and srv.count == 5


def test_transient_trouble_raises_after_the_configured_retries(server: LoopbackSmtpServer) -> None:
    server._fault = lambda ev: "451 4.3.0 always busy" if ev.phase == "DATA" else None
    sleeps: list[float] = []
    msg = render_notice(make_ctx(), mail_from=MAIL_FROM, when=WHEN)
    with _sender(server, sleeps, retries=3) as sender, pytest.raises(SmtpTransientError, match="451"):
        sender.send(msg)
    assert sleeps == [1.0, 2.0, 4.0]  # exponential backoff
    assert server.count == 0


def test_rate_limit_spaces_messages(server: LoopbackSmtpServer) -> None:
    clock = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    sender = SmtpSender(smtp_cfg(server.port, rate_per_second=4), sleep=sleep, clock=lambda: clock[0])
    with sender:
        for u in UNITS[:3]:
            sender.send(render_notice(make_ctx(u), mail_from=MAIL_FROM, when=WHEN))
    assert sleeps == [pytest.approx(0.25), pytest.approx(0.25)]
    assert server.count == 3


def test_data_fault_callable_sees_message_ids(server: LoopbackSmtpServer) -> None:
    seen: list[FaultEvent] = []

    def fault(ev: FaultEvent) -> str | None:
        seen.append(ev)
        return DROP if ev.phase == "DATA" and ev.attempt == 1 else None

    server._fault = fault
    with _sender(server) as sender:
        sender.send(render_notice(make_ctx("市单位00"), mail_from=MAIL_FROM, when=WHEN))
    data = [e for e in seen if e.phase == "DATA"]
    assert [(e.message_id, e.attempt) for e in data] == [(mid("市单位00"), 1), (mid("市单位00"), 2)]
    assert server.count == 1


# -- TLS and login -------------------------------------------------------------------------


def test_starttls_with_login_and_the_password_never_shown(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed_tls(tmp_path)
    with LoopbackSmtpServer(tmp_path / "md", tls_context=server_ctx, auth=("duban", "s3cret-pw")) as srv:
        cfg = smtp_cfg(srv.port, security="starttls")
        sender = SmtpSender(cfg, user="duban", password="s3cret-pw", ssl_context=client_ctx)
        with sender:
            result = sender.send(render_notice(make_ctx(), mail_from=MAIL_FROM, when=WHEN))
        assert result.accepted == ["unit@example.gov.cn"] and srv.logins == ["duban"] and srv.count == 1
        assert "s3cret-pw" not in repr(sender)
        wrong = SmtpSender(cfg, user="duban", password="nope", ssl_context=client_ctx, sleep=lambda s: None)
        with wrong, pytest.raises(SmtpPermanentError, match="login refused") as err:
            wrong.send(render_notice(make_ctx(), mail_from=MAIL_FROM, when=WHEN))
        assert "nope" not in str(err.value)


def test_implicit_tls_with_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_ctx, client_ctx = self_signed_tls(tmp_path)
    with LoopbackSmtpServer(
        tmp_path / "md", tls_context=server_ctx, implicit_tls=True, auth=("ops", "pw-env")
    ) as srv:
        monkeypatch.setenv("DUBAN_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DUBAN_SMTP_PORT", str(srv.port))
        monkeypatch.setenv("DUBAN_SMTP_SECURITY", "ssl")
        monkeypatch.setenv("DUBAN_SMTP_USER", "ops")
        monkeypatch.setenv("DUBAN_SMTP_PASSWORD", "pw-env")
        get_settings.cache_clear()
        cfg = get_settings().smtp
        assert isinstance(cfg.password, SecretStr)
        with SmtpSender(cfg, ssl_context=client_ctx) as sender:
            sender.send(render_notice(make_ctx(), mail_from=MAIL_FROM, when=WHEN))
        assert srv.logins == ["ops"] and srv.count == 1


def test_an_untrusted_certificate_is_a_permanent_error(tmp_path: Path) -> None:
    server_ctx, _ = self_signed_tls(tmp_path)
    with LoopbackSmtpServer(tmp_path / "md", tls_context=server_ctx, implicit_tls=True) as srv:
        sender = SmtpSender(smtp_cfg(srv.port, security="ssl"), sleep=lambda s: None)  # system CAs only
        with sender, pytest.raises(SmtpPermanentError, match="not trusted"):
            sender.send(render_notice(make_ctx(), mail_from=MAIL_FROM, when=WHEN))
        assert srv.count == 0


def test_security_setting_selects_the_connection_class() -> None:
    import smtplib

    assert connection_class("ssl") is smtplib.SMTP_SSL
    assert connection_class("starttls") is smtplib.SMTP
    assert connection_class("none") is smtplib.SMTP
    with pytest.raises(ValueError, match="ssl, starttls or none"):
        connection_class("tls")


def test_a_user_without_a_password_is_refused_clearly(server: LoopbackSmtpServer) -> None:
    sender = SmtpSender(smtp_cfg(server.port, user="someone"), sleep=lambda s: None)
    with sender, pytest.raises(SmtpPermanentError, match="DUBAN_SMTP_PASSWORD"):
        sender.send(render_notice(make_ctx(), mail_from=MAIL_FROM, when=WHEN))


# -- dry run ------------------------------------------------------------------------------


def test_dry_run_writes_eml_files_through_the_same_bookkeeping(sqlite_store: Store, tmp_path: Path) -> None:
    contexts = _contexts(UNITS[:3])
    plan_notices(
        sqlite_store, "2026Q4", "due", [(u, c.to, mid(u)) for u, c in contexts.items()], channel="dryrun"
    )
    out = tmp_path / "outbox"
    sender = DryRunSender(out)
    report = deliver(
        sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=sender, channel="dryrun"
    )
    assert report.sent == 3 and len(sender.written) == 3
    assert sorted(p.name for p in out.glob("*.eml")) == sorted(f"2026Q4_due_{u}.eml" for u in UNITS[:3])
    again = deliver(
        sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=sender, channel="dryrun"
    )
    assert again.sent == 0 and len(sender.written) == 3


# -- IM (DingTalk robot via apprise) --------------------------------------------------------


class _Robot(BaseHTTPRequestHandler):
    posts: ClassVar[list[dict[str, str]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def robot() -> Iterator[tuple[str, type[_Robot]]]:
    handler = type("Robot", (_Robot,), {"posts": [], "status": 200})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"json://127.0.0.1:{httpd.server_address[1]}/robot", handler
    httpd.shutdown()
    httpd.server_close()


def test_im_channel_posts_once_per_unit_through_the_outbox(
    sqlite_store: Store, robot: tuple[str, type[_Robot]]
) -> None:
    url, handler = robot
    contexts = _contexts(UNITS[:2])
    plan_notices(sqlite_store, "2026Q4", "due", [(u, [], mid(u)) for u in contexts], channel="im")
    sender = ImSender.from_config(ImConfig(enabled=True, url_env="TEST_IM_URL"), environ={"TEST_IM_URL": url})
    assert sender is not None
    report = deliver(sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=sender, channel="im")
    assert report.sent == 2 and len(handler.posts) == 2
    assert handler.posts[0]["title"].startswith("【催报】")
    assert "推进政务服务一体化" in handler.posts[0]["message"] and "市单位00" in handler.posts[0]["title"]
    assert (
        deliver(sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=sender, channel="im").sent
        == 0
    )
    assert len(handler.posts) == 2


def test_im_failure_is_recorded_for_a_later_run(sqlite_store: Store, robot: tuple[str, type[_Robot]]) -> None:
    url, handler = robot
    handler.status = 500
    with pytest.raises(ImSendError):
        ImSender(url).send("测试")
    contexts = _contexts(UNITS[:1])
    plan_notices(sqlite_store, "2026Q4", "due", [(u, [], mid(u)) for u in contexts], channel="im")
    report = deliver(
        sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=ImSender(url), channel="im"
    )
    assert report.failed == 1
    handler.status = 200
    retry = deliver(
        sqlite_store, "2026Q4", "due", build=build_from(contexts), sender=ImSender(url), channel="im"
    )
    assert retry.sent == 1


def test_im_is_off_by_default_and_says_what_is_missing() -> None:
    assert get_settings().im.enabled is False
    assert ImSender.from_config(get_settings().im) is None
    with pytest.raises(ConfigError, match="DUBAN_IM_URL"):
        ImSender.from_config(ImConfig(enabled=True), environ={})
    with pytest.raises(ConfigError, match="not a valid apprise URL"):
        ImSender("nonsense-without-scheme")
