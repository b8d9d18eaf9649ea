"""Builders shared by the notice, SMTP and outbox tests: contexts, an .xlsx, TLS material."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from duban.notices.render import InvalidField, NoticeContext, NoticeItem, message_id, render_notice
from duban.settings import SmtpConfig

SH = ZoneInfo("Asia/Shanghai")
MAIL_FROM = "丽水市数字政府办 <duban@lishui.example>"
DOMAIN = "lishui.example"
PLAN_TITLE = "丽水市深化数字政府建设实施方案"
WHEN = datetime(2027, 1, 8, 9, 30, tzinfo=SH)
STAGE_NAMES = {"open": "报送通知", "remind": "提醒", "due": "催报", "overdue": "督办"}


def make_xlsx(unit: str = "市发改委") -> bytes:
    """A small pre-filled template, as the lead's template builder would attach it."""
    from openpyxl import Workbook  # imported here: the crash test's child stays light

    wb = Workbook()
    ws = wb.active
    ws.title = "进展报表"
    ws.append(["任务编码", "序号", "工作任务", "填报单位", "完成状态", "完成进度(%)", "本期进展情况"])
    ws.append(["T05", 5, "推进政务服务一体化", unit, "推进中", 60, "上期：已完成方案编制"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def make_ctx(
    unit: str = "市发改委",
    *,
    stage: str = "due",
    to: list[str] | None = None,
    cc: list[str] | None = None,
    missing: list[NoticeItem] | None = None,
    invalid: list[InvalidField] | None = None,
    attachment: tuple[str, bytes] | None = None,
    late_days: int | None = None,
    unit_full: str | None = None,
) -> NoticeContext:
    return NoticeContext(
        unit_short=unit,
        unit_full=unit_full or f"丽水{unit}全称",
        to=to if to is not None else ["unit@example.gov.cn"],
        cc=cc or [],
        period_key="2026Q4",
        period_label="2026年第四季度",
        deadline=date(2027, 1, 8),
        stage_id=stage,
        stage_name=STAGE_NAMES.get(stage, stage),
        plan_title=PLAN_TITLE,
        plan_doc_number="丽政发〔2022〕29号",
        office_name="丽水市数字政府建设工作领导小组办公室",
        office_email="szfb@lishui.example",
        office_phone="0578-0000000",
        submit_hint="请将填写完整的报表作为附件回复本邮件。",
        missing=missing
        if missing is not None
        else [NoticeItem("T05", 5, "推进政务服务一体化", "牵头", None)],
        invalid=invalid or [],
        late_days=late_days,
        attachment=attachment,
    )


def mid(unit: str, stage: str = "due", period: str = "2026Q4") -> str:
    return message_id(unit, period, stage, DOMAIN)


def build_from(
    contexts: dict[str, NoticeContext], *, still_missing: Callable[[str], bool] = lambda u: True
) -> Callable[[str], EmailMessage | None]:
    """The ``build`` callable the flows pass to ``deliver``: re-check, then render."""

    def build(unit: str) -> EmailMessage | None:
        if not still_missing(unit):
            return None
        return render_notice(contexts[unit], mail_from=MAIL_FROM, when=WHEN)

    return build


def small_notice(unit: str) -> EmailMessage:
    """A minimal message with the notice's Message-ID (the crash test sends 2,000 of them)."""
    msg = EmailMessage()
    msg["From"] = "duban@lishui.example"
    msg["To"] = f"{unit}@example.gov.cn"
    msg["Subject"] = f"notice {unit}"
    msg["Message-ID"] = mid(unit)
    msg.set_content("催报")
    return msg


def smtp_cfg(port: int, **over: object) -> SmtpConfig:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "mail_from": MAIL_FROM,
        "timeout_s": 10,
        "rate_per_second": 0,
        "retries": 3,
    }
    values.update(over)
    return SmtpConfig(**values)  # type: ignore[arg-type]
