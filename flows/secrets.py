"""Secrets for flows: the environment first, then Prefect blocks named in config."""

from __future__ import annotations

import logging

from duban.settings import get_settings

__all__ = ["smtp_password"]
# Called inside tasks, never passed as a parameter: parameters are recorded by Prefect.

log = logging.getLogger("duban.flows")


def smtp_password() -> str | None:
    """DUBAN_SMTP_PASSWORD when set (through settings), else the EmailServerCredentials block."""
    settings = get_settings()
    if settings.smtp.password is not None:
        return None  # SmtpSender takes it from settings itself
    name = settings.smtp.prefect_block
    if not name:
        return None
    from prefect_email import EmailServerCredentials

    block = EmailServerCredentials.load(name)
    log.info("SMTP credentials from Prefect block %r", name)
    return block.password.get_secret_value() if block.password else None
