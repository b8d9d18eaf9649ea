"""Render one notice (unit, period, stage) into a standards-correct MIME message.

A notice is read by civil servants in webmail clients of every age, so the message is
conservative: ``multipart/mixed`` holding ``multipart/alternative`` (plain text first, HTML
second) and the pre-filled template as an ``.xlsx`` attachment; UTF-8 bodies, an RFC 2047
subject, RFC 2231 attachment names, a ``Date`` and a Message-ID derived only from
(unit, period, stage), so a resent notice is recognisably the same message. Wording lives in
the Jinja2 templates under ``templates/notices``; the HTML template is autoescaped so text
from submissions (values, narratives) can never become markup. When every address is plain
ASCII (the usual case) the MIME tree is assembled directly (``duban.notices.mime``): the same
message, without the email package parsing back every header it is given.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from duban.notices.mime import assemble
from duban.settings import REPO_ROOT

__all__ = [
    "XLSX_MIME",
    "InvalidField",
    "NoticeContext",
    "NoticeItem",
    "eml_filename",
    "message_id",
    "render_notice",
    "write_eml",
    "zh_date",
]

TEMPLATES_DIR = REPO_ROOT / "templates" / "notices"
XLSX_MIME = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
SHANGHAI = ZoneInfo("Asia/Shanghai")
#: A header naming the notice's key; lets the office filter replies and tools count notices.
KEY_HEADER = "X-Duban-Notice"
_WEEKDAYS = "一二三四五六日"


@dataclass
class NoticeItem:
    """One catalogue item the unit still owes for the period."""

    item_id: str
    number: int | None
    title: str
    role: str  # 牵头 | 配合
    lead_unit: str | None = None


@dataclass
class InvalidField:
    """One value of the unit's submission that failed validation, with the reason in Chinese."""

    item_id: str | None
    row: int | None
    column: str
    value: str
    reason_zh: str


@dataclass
class NoticeContext:
    """Everything a notice says, as plain values (no store, no settings)."""

    unit_short: str
    unit_full: str
    to: list[str]
    cc: list[str]
    period_key: str
    period_label: str
    deadline: date
    stage_id: str
    stage_name: str
    plan_title: str
    plan_doc_number: str
    office_name: str
    office_email: str
    office_phone: str
    submit_hint: str
    missing: list[NoticeItem] = field(default_factory=list)
    invalid: list[InvalidField] = field(default_factory=list)
    late_days: int | None = None
    attachment: tuple[str, bytes] | None = None  # (filename, xlsx bytes)


def zh_date(d: date | datetime, weekday: bool = False) -> str:
    """``2027年1月8日`` (optionally ``（星期五）``), the way official documents write dates."""
    text = f"{d.year}年{d.month}月{d.day}日"
    return f"{text}（星期{_WEEKDAYS[d.weekday()]}）" if weekday else text


def _token(value: str) -> str:
    """``value`` if it is a safe Message-ID token, else a short hash of it (ASCII only)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", value):
        return value
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]


def message_id(unit: str, period: str, stage: str, domain: str) -> str:
    """The deterministic RFC 5322 Message-ID of a notice: same key, same id, ASCII only."""
    unit_hash = hashlib.sha256(unit.encode("utf-8")).hexdigest()[:16]
    try:
        dom = domain.strip().strip("<>").encode("idna").decode("ascii")
    except UnicodeError:
        dom = "duban.invalid"
    dom = dom if re.fullmatch(r"[A-Za-z0-9.-]+", dom or "") else "duban.invalid"
    return f"<duban.{_token(period)}.{_token(stage)}.{unit_hash}@{dom}>"


@lru_cache(maxsize=8)
def _environment(templates_dir: Path, stamp: tuple[tuple[str, int], ...]) -> Environment:
    """One environment per template directory and state of its files (``stamp``).

    Jinja would check every template's modification time on every ``get_template`` (three
    per notice); here the directory is looked at once per notice and a changed file brings a
    fresh environment.
    """
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["zh_date"] = zh_date
    return env


def _current_environment(templates_dir: Path) -> Environment:
    folder = Path(templates_dir).resolve()
    with os.scandir(folder) as entries:
        stamp = tuple(sorted((e.name, e.stat().st_mtime_ns) for e in entries if e.is_file()))
    return _environment(folder, stamp)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=SHANGHAI)


@lru_cache(maxsize=16)
def _sender(mail_from: str) -> tuple[str, str, str]:
    """(display name, address, domain) of the configured sender."""
    name, addr = parseaddr(mail_from)
    return name, addr, addr.rpartition("@")[2] or "duban.invalid"


def _from_header(mail_from: str) -> Address | str:
    """``Name <addr>`` → an Address, so a Chinese display name is encoded properly."""
    name, addr = parseaddr(mail_from)
    if addr and "@" in addr:
        user, _, dom = addr.rpartition("@")
        return Address(display_name=name, username=user, domain=dom)
    return mail_from


def _attachment_part(name: str, data: bytes) -> EmailMessage:
    part = EmailMessage(policy=SMTP)
    part.set_content(data, maintype=XLSX_MIME[0], subtype=XLSX_MIME[1], filename=name)
    return part


def render_notice(
    ctx: NoticeContext, *, mail_from: str, when: datetime, templates_dir: Path | None = None
) -> EmailMessage:
    """Build the notice for ``ctx`` (subject, text and HTML bodies, the template attached)."""
    env = _current_environment(templates_dir or TEMPLATES_DIR)
    when = _aware(when)
    wording = env.get_template("_wording.j2").module  # macros called from Python return plain str
    subject = " ".join(str(wording.subject(ctx)).split())  # type: ignore[attr-defined]
    values = {
        "ctx": ctx,
        "when": when,
        "subject": subject,
        "lead": str(wording.lead(ctx)).strip(),  # type: ignore[attr-defined]
        "deadline": str(wording.deadline(ctx)).strip(),  # type: ignore[attr-defined]
        "footer": str(wording.footer()).strip(),  # type: ignore[attr-defined]
    }
    text = env.get_template("notice.txt.j2").render(values)
    html = env.get_template("notice.html.j2").render(values)
    name, addr, domain = _sender(mail_from)
    mid = message_id(ctx.unit_short, ctx.period_key, ctx.stage_id, domain)
    key = f"{ctx.period_key}/{ctx.stage_id}/{ctx.unit_short}"
    attachment = _attachment_part(*ctx.attachment) if ctx.attachment is not None else None
    fast = assemble(  # the common case, built without re-parsing what is already known to be plain
        subject=subject,
        from_name=name,
        from_addr=addr,
        to=ctx.to,
        cc=ctx.cc,
        reply_to=ctx.office_email,
        date=format_datetime(when),
        message_id=mid,
        extra=[("Auto-Submitted", "auto-generated"), (KEY_HEADER, key)],
        text=text,
        html=html,
        attachment=attachment,
    )
    if fast is not None:
        return fast
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = subject
    msg["From"] = _from_header(mail_from)
    msg["To"] = ", ".join(ctx.to)
    if ctx.cc:
        msg["Cc"] = ", ".join(ctx.cc)
    if ctx.office_email:
        msg["Reply-To"] = ctx.office_email
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = mid
    msg["Auto-Submitted"] = "auto-generated"
    # a line break in a unit name would be refused in a header (ValueError); never let it split one
    msg[KEY_HEADER] = re.sub(r"[\r\n]+", " ", key)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    if ctx.attachment is not None:
        name, data = ctx.attachment
        msg.add_attachment(data, maintype=XLSX_MIME[0], subtype=XLSX_MIME[1], filename=name)
    return msg


def eml_filename(msg: EmailMessage) -> str:
    """A stable file name for a message: its notice key if present, else its Message-ID."""
    key = str(msg.get(KEY_HEADER, "") or msg.get("Message-ID", "") or "message")
    safe = re.sub(r"[\\/:*?\"<>|\s]+", "_", key).strip("._") or "message"
    return f"{safe[:150]}.eml"


def write_eml(msg: EmailMessage, directory: Path) -> Path:
    """Write ``msg`` as RFC 5322 bytes (CRLF) into ``directory``; the same notice overwrites itself."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / eml_filename(msg)
    tmp = path.with_suffix(".eml.tmp")
    tmp.write_bytes(msg.as_bytes(policy=SMTP))
    tmp.replace(path)
    return path
