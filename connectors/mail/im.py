"""The IM channel: a notice posted to a 浙政钉 / DingTalk group robot through apprise.

Off by default (``im.enabled``). The robot URL holds its token, so it is a secret: it comes
from the environment variable named by ``im.url_env`` (e.g. ``dingtalk://token/`` or, for
tests, ``json://127.0.0.1:port/``), never from a file. The message goes through the same
outbox as email (``channel="im"``), so it too is sent at most once per unit and stage.
Mind that a group robot posts to everyone in its group: give each unit its own group (and
URL), or post only what all members may see.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from email.message import EmailMessage

import apprise

from duban.errors import ConfigError
from duban.notices.outbox import SendResult
from duban.settings import ImConfig

__all__ = ["ImSendError", "ImSender", "notice_text"]

MAX_BODY = 3800  # DingTalk text messages are limited; keep well below


class ImSendError(Exception):
    """The IM service did not accept the message; the outbox retries on the next run."""


def notice_text(msg: EmailMessage) -> tuple[str, str]:
    """(title, body) of a rendered notice: its subject and its plain-text part."""
    title = str(msg.get("Subject", ""))
    part = msg.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""  # type: ignore[union-attr]
    body = body.replace("\r\n", "\n").strip()
    if len(body) > MAX_BODY:
        body = body[:MAX_BODY].rstrip() + "\n……（内容较长，详见邮件通知）"
    return title, body


class ImSender:
    """A ``Sender`` posting each notice as text to one apprise URL."""

    def __init__(self, url: str) -> None:
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            # do not echo the URL: it carries the robot's token
            raise ConfigError("the IM URL is not a valid apprise URL (check its scheme, e.g. dingtalk://)")
        self.target = url.split("://", 1)[0] + "://"

    def __repr__(self) -> str:
        return f"ImSender({self.target}…)"

    @classmethod
    def from_config(cls, cfg: ImConfig, environ: Mapping[str, str] | None = None) -> ImSender | None:
        """The sender for ``cfg``, or ``None`` when the IM channel is off."""
        if not cfg.enabled:
            return None
        env = os.environ if environ is None else environ
        url = env.get(cfg.url_env, "")
        if not url:
            raise ConfigError(f"im.enabled is true but ${cfg.url_env} is not set (an apprise URL)")
        return cls(url)

    def __enter__(self) -> ImSender:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, msg: EmailMessage | str) -> SendResult:
        """Post a notice (its subject and plain text) or a bare text."""
        if isinstance(msg, str):
            title, body = "", msg
        else:
            title, body = notice_text(msg)
        ok = self._apprise.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        if not ok:
            raise ImSendError(f"{self.target} did not accept the message")
        return SendResult(accepted=[self.target], refused={})
