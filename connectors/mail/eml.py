"""Dry-run transport: each notice becomes an ``.eml`` file instead of an SMTP transaction.

``--dry-run`` goes through the same outbox bookkeeping as a real send, so what the files
show is exactly what would have been sent, and a later real run is not confused by it
when it uses its own outbox key (channel) or store.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from duban.notices.outbox import SendResult, recipients_of
from duban.notices.render import write_eml

__all__ = ["DryRunSender"]


class DryRunSender:
    """A ``Sender`` that writes RFC 5322 bytes to ``directory`` and reports every recipient accepted."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.written: list[Path] = []

    def __enter__(self) -> DryRunSender:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, msg: EmailMessage) -> SendResult:
        self.written.append(write_eml(msg, self.directory))
        return SendResult(accepted=recipients_of(msg), refused={})
