"""Rendering a notice: the words a unit reads and the MIME a mail client parses."""

from __future__ import annotations

import email
import email.policy
import io
import re
import shutil
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import openpyxl
from bs4 import BeautifulSoup

from duban.notices.render import (
    TEMPLATES_DIR,
    InvalidField,
    NoticeItem,
    eml_filename,
    message_id,
    render_notice,
    write_eml,
    zh_date,
)
from tests.smtp_helpers import MAIL_FROM, SH, WHEN, make_ctx, make_xlsx

ATTACHMENT_NAME = "市发改委_2026年第四季度_进展报表.xlsx"


def _wire(ctx, **kw):  # type: ignore[no-untyped-def]
    """Render and reparse from the bytes that would go on the wire."""
    msg = render_notice(ctx, mail_from=MAIL_FROM, when=kw.get("when", WHEN), **kw.get("extra", {}))
    raw = msg.as_bytes()
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def _html(parsed) -> str:  # type: ignore[no-untyped-def]
    return parsed.get_body(("html",)).get_content()


def _text(parsed) -> str:  # type: ignore[no-untyped-def]
    return parsed.get_body(("plain",)).get_content()


def test_subject_is_rfc2047_and_decodes_to_the_chinese_title() -> None:
    raw, parsed = _wire(make_ctx("市发改委", stage="due"))
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # every header is 7-bit on the wire
    assert re.search(rb"^Subject: =\?utf-8\?", head, re.MULTILINE)
    assert parsed["Subject"] == (
        "【催报】关于报送2026年第四季度《丽水市深化数字政府建设实施方案》工作进展的通知（市发改委）"
    )
    assert parsed["From"].addresses[0].display_name == "丽水市数字政府办"
    assert parsed["Reply-To"] == "szfb@lishui.example"


def test_structure_text_then_html_then_the_xlsx_that_opens() -> None:
    data = make_xlsx("市发改委")
    raw, parsed = _wire(make_ctx(attachment=(ATTACHMENT_NAME, data), stage="open"))
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, attachment = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.get_payload()] == ["text/plain", "text/html"]
    for part in alternative.get_payload():
        assert part.get_content_charset() == "utf-8"
    # RFC 2231 name on the wire, the Chinese name after decoding
    assert b"filename*" in raw and "市发改委".encode() not in raw
    assert attachment.get_filename() == ATTACHMENT_NAME
    assert (
        attachment.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    content = attachment.get_content()
    assert content == data
    wb = openpyxl.load_workbook(io.BytesIO(content))
    assert wb.active["A2"].value == "T05"
    assert wb.active["D2"].value == "市发改委"


def test_no_attachment_means_no_mixed_wrapper() -> None:
    _, parsed = _wire(make_ctx())
    assert parsed.get_content_type() == "multipart/alternative"
    assert list(parsed.iter_attachments()) == []


def test_date_and_deterministic_ascii_message_id() -> None:
    _, parsed = _wire(make_ctx("市发改委", stage="due"))
    assert parsedate_to_datetime(parsed["Date"]) == WHEN
    expected = message_id("市发改委", "2026Q4", "due", "lishui.example")
    assert parsed["Message-ID"] == expected
    assert re.fullmatch(r"<[\x21-\x7e]+@lishui\.example>", expected)
    # same key, another render (another time): the same id; any other key: another id
    _, again = _wire(make_ctx("市发改委", stage="due"), when=datetime(2027, 1, 9, 8, 0, tzinfo=SH))
    assert again["Message-ID"] == expected
    others = {
        message_id("市经信局", "2026Q4", "due", "x.cn"),
        message_id("市发改委", "2026Q3", "due", "x.cn"),
        message_id("市发改委", "2026Q4", "overdue", "x.cn"),
        message_id("市发改委", "2026Q4", "due", "x.cn"),
    }
    assert len(others) == 4


def test_naive_when_is_taken_as_shanghai_time() -> None:
    _, parsed = _wire(make_ctx(), when=datetime(2027, 1, 8, 9, 30))
    assert parsed["Date"].endswith("+0800")


def test_body_names_plan_period_deadline_items_reasons_and_how_to_submit() -> None:
    ctx = make_ctx(
        "市大数据局",
        missing=[
            NoticeItem("T05", 5, "推进政务服务一体化", "牵头", None),
            NoticeItem("P5-2", None, "强化数据安全保障", "配合", "市委网信办"),
        ],
        invalid=[
            InvalidField("T12", 7, "完成进度(%)", "八成", "完成进度应为0到100之间的数字"),
            InvalidField(None, 9, "完成状态", "", "完成状态不能为空"),
        ],
    )
    _, parsed = _wire(ctx)
    text, html = _text(parsed), _html(parsed)
    for body in (text, BeautifulSoup(html, "html.parser").get_text()):
        assert "丽水市大数据局全称" in body
        assert "《丽水市深化数字政府建设实施方案》" in body
        assert "2026年第四季度" in body
        assert "2027年1月8日（星期五）" in body
        assert "推进政务服务一体化" in body and "强化数据安全保障" in body
        assert "P5-2" in body  # an unnumbered item shows its id
        assert "牵头单位：市委网信办" in body
        assert "第7行" in body and "八成" in body and "完成进度应为0到100之间的数字" in body
        assert "（空）" in body and "完成状态不能为空" in body
        assert "请将填写完整的报表作为附件回复本邮件。" in body
        assert "0578-0000000" in body and "szfb@lishui.example" in body
    soup = BeautifulSoup(html, "html.parser")
    headers = [th.get_text(strip=True) for th in soup.find_all("th")]
    assert headers == ["任务编号", "任务名称", "角色"]
    rows = [[td.get_text(strip=True) for td in tr.find_all("td")] for tr in soup.find_all("tr")[1:]]
    assert ["5", "推进政务服务一体化", "牵头"] in rows


def test_hostile_text_from_a_submission_is_shown_not_executed() -> None:
    narrative = '<script>alert("x")</script>见<a href="http://evil.example/">这里</a>'
    ctx = make_ctx(
        missing=[NoticeItem("T05", 5, "推进<b>一体化</b>", "牵头", None)],
        invalid=[InvalidField("T05", 3, "本期进展情况", narrative, "含有不允许的标记")],
    )
    _, parsed = _wire(ctx)
    html = _html(parsed)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None
    assert soup.find("b") is None
    assert [a["href"] for a in soup.find_all("a")] == ["mailto:szfb@lishui.example"]
    assert "&lt;script&gt;" in html and "&lt;a href=" in html
    assert narrative in soup.get_text()  # shown to the reader, as text
    assert narrative in _text(parsed)  # the plain part keeps it verbatim


def test_stage_wording_differs_per_stage() -> None:
    opened = _text(_wire(make_ctx(stage="open", attachment=(ATTACHMENT_NAME, make_xlsx())))[1])
    assert "现启动2026年第四季度工作进展报送" in opened and "已按上期报送内容预填" in opened
    remind = _text(_wire(make_ctx(stage="remind"))[1])
    assert "请在截止前完成报送" in remind
    _, overdue = _wire(make_ctx(stage="overdue", late_days=2, cc=["lead@x.gov.cn", "office@x.gov.cn"]))
    assert overdue["Subject"].startswith("【督办】关于督促报送")
    assert overdue["Cc"] == "lead@x.gov.cn, office@x.gov.cn"
    assert "已逾期2个工作日" in _text(overdue) and "抄送贵单位分管领导" in _text(overdue)
    custom = _wire(make_ctx(stage="weekly"))[1]
    assert custom["Subject"].startswith("【weekly】关于报送")


def test_invalid_only_notice_numbers_its_one_section_first() -> None:
    ctx = make_ctx(missing=[], invalid=[InvalidField("T05", 4, "完成状态", "差不多", "不是规定的状态")])
    text = _text(_wire(ctx)[1])
    assert "一、需更正的内容（1处）" in text and "未报送事项" not in text


def test_templates_dir_can_be_replaced(tmp_path: Path) -> None:
    custom = tmp_path / "tpl"
    shutil.copytree(TEMPLATES_DIR, custom)
    wording = custom / "_wording.j2"
    wording.write_text(
        wording.read_text(encoding="utf-8").replace("请于今日下班前完成报送", "请今天报"), "utf-8"
    )
    _, parsed = _wire(make_ctx(stage="due"), extra={"templates_dir": custom})
    assert "请今天报" in _text(parsed)


def test_write_eml_is_stable_and_parses(tmp_path: Path) -> None:
    msg = render_notice(make_ctx("市发改委"), mail_from=MAIL_FROM, when=WHEN)
    path = write_eml(msg, tmp_path / "out")
    assert path.name == eml_filename(msg) == "2026Q4_due_市发改委.eml"
    assert write_eml(msg, tmp_path / "out") == path  # the same notice overwrites itself
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == msg["Message-ID"]
    assert b"\r\n" in path.read_bytes()


def test_zh_date() -> None:
    assert zh_date(date(2027, 1, 8)) == "2027年1月8日"
    assert zh_date(date(2027, 1, 10), weekday=True) == "2027年1月10日（星期日）"
