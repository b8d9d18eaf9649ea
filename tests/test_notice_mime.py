"""The notice's MIME tree built directly (duban.notices.mime): the same bytes the email package writes,
the general path for anything unusual, and SMTP sending exactly those bytes."""

from __future__ import annotations

import email
import email.header
import email.policy
import os
import shutil
from email.policy import SMTP
from pathlib import Path

import pytest

from connectors.mail.loopback import LoopbackSmtpServer
from connectors.mail.smtp import SmtpSender
from duban.notices.mime import LINE, encoded_words, header_text, wire_bytes
from duban.notices.outbox import recipients_of
from duban.notices.render import TEMPLATES_DIR, InvalidField, NoticeItem, render_notice
from tests.smtp_helpers import MAIL_FROM, WHEN, make_ctx, make_xlsx, smtp_cfg

MANY = [f"user{i:02d}.long-mailbox-name@bureau{i}.example.gov.cn" for i in range(9)]
CASES = {
    "plain": make_ctx(),
    "overdue with copies": make_ctx("市发改委", stage="overdue", cc=["lead@x.gov.cn", "office@x.gov.cn"]),
    "many recipients": make_ctx("单位0001", to=MANY[:5], cc=MANY[5:]),
    "long unit name": make_ctx("很长的单位名称" * 12, unit_full="全称" * 40),
    "line break in a unit name": make_ctx("市发改委\r\n伪造: 头"),
    "many items and hostile text": make_ctx(
        missing=[
            NoticeItem(f"T{i:03d}", i, "推进<b>一体化</b>" * 5, "配合", "市大数据局") for i in range(60)
        ],
        invalid=[InvalidField("T05", 3, "本期进展情况", "<script>x</script>\r\n=?utf-8?q?x?=", "含有标记")],
    ),
    "ascii stage": make_ctx(stage="weekly"),
}


def _render(ctx):  # type: ignore[no-untyped-def]
    return render_notice(ctx, mail_from=MAIL_FROM, when=WHEN)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wire_bytes_are_what_the_email_package_writes(name: str) -> None:
    msg = _render(CASES[name])
    data = wire_bytes(msg)
    assert data is not None and data == msg.as_bytes(policy=SMTP)
    for line in data.split(b"\r\n"):
        assert len(line) <= LINE and line.isascii() and b"\r" not in line and b"\n" not in line
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["X-Duban-Notice"] == f"2026Q4/{CASES[name].stage_id}/{CASES[name].unit_short}".replace(
        "\r\n", " "
    )
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n").strip()
    assert recipients_of(msg) == recipients_of(parsed) == [*CASES[name].to, *CASES[name].cc]
    for header in ("Subject", "Message-ID", "X-Duban-Notice", "From", "To", "Date", "Bcc"):
        assert header_text(msg, header) == header_text(parsed, header) == str(msg.get(header, ""))


def test_encoded_words_never_split_a_character_and_fit_their_lines() -> None:
    text = "〔2026〕𠀀第四季度《丽水市深化数字政府建设实施方案》" * 3
    words = encoded_words(text, 20)
    assert len(words[0]) <= 20 and all(len(w) <= 75 for w in words)
    decoded = "".join(str(email.header.make_header(email.header.decode_header(w))) for w in words)
    assert decoded == text


def test_unusual_addresses_take_the_general_path() -> None:
    for to in (["张三 <a@x.cn>"], ["用户@例子.中国"], []):
        msg = _render(make_ctx(to=to))
        assert wire_bytes(msg) is None  # header objects: written by the email package
        assert email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)["Subject"]


def test_an_attachment_or_a_later_change_leaves_the_writing_to_the_email_package() -> None:
    assert wire_bytes(_render(make_ctx(attachment=("a.xlsx", make_xlsx())))) is None
    msg = _render(make_ctx())
    msg["X-Extra"] = "一个后加的头"
    assert wire_bytes(msg) is None
    msg = _render(make_ctx())
    msg["Bcc"] = "hidden@x.gov.cn"
    assert wire_bytes(msg) is None


def test_smtp_sends_the_wire_bytes_and_the_email_package_for_the_rest(tmp_path: Path) -> None:
    plain, changed = _render(make_ctx("市发改委")), _render(make_ctx("市经信局"))
    changed["Bcc"] = "hidden@x.gov.cn"
    with LoopbackSmtpServer(tmp_path / "mail") as srv, SmtpSender(smtp_cfg(srv.port)) as sender:
        assert sender.send(plain).accepted == ["unit@example.gov.cn"]
        assert sender.send(changed).accepted == ["unit@example.gov.cn", "hidden@x.gov.cn"]
        first, second = (p.read_bytes() for p in srv.files())
    assert first == plain.as_bytes(policy=SMTP)
    assert b"hidden@x.gov.cn" not in second  # smtplib dropped the Bcc header, as always
    assert srv.envelopes[1][1] == ["unit@example.gov.cn", "hidden@x.gov.cn"]


def test_a_template_edited_while_running_is_picked_up(tmp_path: Path) -> None:
    custom = tmp_path / "tpl"
    shutil.copytree(TEMPLATES_DIR, custom)

    def text() -> str:
        msg = render_notice(make_ctx(stage="due"), mail_from=MAIL_FROM, when=WHEN, templates_dir=custom)
        return msg.get_body(("plain",)).get_content()

    assert "请于今日下班前完成报送" in text()
    wording = custom / "_wording.j2"
    before = wording.stat().st_mtime_ns
    wording.write_text(wording.read_text("utf-8").replace("请于今日下班前完成报送", "请今天报"), "utf-8")
    os.utime(wording, ns=(before + 10**9, before + 10**9))  # a clearly newer file, whatever the clock
    assert "请今天报" in text()
