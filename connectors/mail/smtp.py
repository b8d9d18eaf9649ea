"""Send notices over SMTP: one connection per batch, polite pacing, honest error classes.

Government mail relays throttle, greylist (451) and drop idle connections, so the sender
keeps one connection open for a batch and reconnects when it is dropped, waits between
messages (``rate_per_second``), retries transient trouble (4xx replies, disconnects, socket
errors) with exponential backoff, and reports permanent refusals (5xx) per recipient instead
of raising, so one dead mailbox does not stop the batch. The password is taken from the
argument or the settings only when logging in and is never logged or shown in ``repr``.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr
from types import TracebackType

from duban.notices.mime import wire_bytes
from duban.notices.outbox import SendResult, recipients_of
from duban.settings import SmtpConfig

__all__ = ["SmtpPermanentError", "SmtpSender", "SmtpTransientError", "connection_class"]

log = logging.getLogger(__name__)

_DISCONNECTS: tuple[type[BaseException], ...] = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    ConnectionError,
    TimeoutError,
    OSError,
)


class SmtpTransientError(Exception):
    """The server kept failing transiently after every retry; the outbox tries again next run."""


class SmtpPermanentError(Exception):
    """A problem no retry will fix (login refused, sender refused, certificate invalid)."""


def connection_class(security: str) -> type[smtplib.SMTP]:
    """``SMTP_SSL`` for implicit TLS (port 465), plain ``SMTP`` for ``none`` and ``starttls``."""
    if security == "ssl":
        return smtplib.SMTP_SSL
    if security in ("starttls", "none"):
        return smtplib.SMTP
    raise ValueError(f"smtp.security must be ssl, starttls or none, not {security!r}")


def _code(value: object) -> int:
    return value if isinstance(value, int) else 0


def _reply(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {text}".strip()


class SmtpSender:
    """A ``duban.notices.outbox.Sender`` over SMTP; use it as a context manager for a batch."""

    def __init__(
        self,
        cfg: SmtpConfig,
        *,
        user: str | None = None,
        password: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
        backoff_s: float = 1.0,
        local_hostname: str | None = None,
    ) -> None:
        connection_class(cfg.security)  # fail early on a bad setting
        self.cfg = cfg
        self.user = user if user is not None else cfg.user
        self._password = password
        self._sleep = sleep
        self._clock = clock
        self._ssl_context = ssl_context
        self.backoff_s = backoff_s
        envelope_from = parseaddr(cfg.mail_from)[1]
        self.envelope_from = envelope_from or cfg.mail_from
        self.local_hostname = local_hostname or (envelope_from.rpartition("@")[2] or None)
        self._conn: smtplib.SMTP | None = None
        self._last_start: float | None = None
        self.connections_opened = 0

    def __repr__(self) -> str:
        return (
            f"SmtpSender(host={self.cfg.host!r}, port={self.cfg.port}, security={self.cfg.security!r}, "
            f"user={self.user!r})"
        )

    # -- connection ---------------------------------------------------------------------
    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _secret(self) -> str:
        if self._password is not None:
            return self._password
        if self.cfg.password is not None:
            return self.cfg.password.get_secret_value()
        raise SmtpPermanentError(
            f"SMTP user {self.user!r} is set but no password: set DUBAN_SMTP_PASSWORD "
            "or configure the Prefect EmailServerCredentials block"
        )

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        cls = connection_class(cfg.security)
        kwargs: dict[str, object] = {"timeout": cfg.timeout_s, "local_hostname": self.local_hostname}
        if cfg.security == "ssl":
            kwargs["context"] = self._context()
        conn = cls(cfg.host, cfg.port, **kwargs)  # type: ignore[arg-type]
        try:
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.user:
                secret = self._secret()
                if not conn.has_extn("auth"):
                    raise SmtpPermanentError(
                        f"{cfg.host}:{cfg.port} offers no AUTH (security={cfg.security}); "
                        "check the port and smtp.security"
                    )
                conn.login(self.user, secret)
        except BaseException:
            self._close_quietly(conn)
            raise
        self.connections_opened += 1
        log.info("smtp: connected to %s:%s (%s)", cfg.host, cfg.port, cfg.security)
        return conn

    @staticmethod
    def _close_quietly(conn: smtplib.SMTP | None) -> None:
        if conn is None:
            return
        try:
            conn.quit()
        except Exception:
            with contextlib.suppress(Exception):
                conn.close()

    def open(self) -> SmtpSender:
        if self._conn is None:
            self._conn = self._connect()
        return self

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._close_quietly(conn)

    def __enter__(self) -> SmtpSender:
        return self  # connect lazily: a batch with nothing to send opens no connection

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- sending --------------------------------------------------------------------------
    def _pace(self) -> None:
        rate = self.cfg.rate_per_second
        if rate and rate > 0 and self._last_start is not None:
            wait = self._last_start + 1.0 / rate - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_start = self._clock()

    def _transmit(self, msg: EmailMessage, to: list[str]) -> dict[str, tuple[int, bytes]]:
        """One SMTP transaction: the notice's own bytes when it can write them (``wire_bytes``), else
        ``send_message`` (non-ASCII envelope, Bcc, or any message of another shape)."""
        assert self._conn is not None
        data = wire_bytes(msg)
        if data is None or not "".join([self.envelope_from, *to]).isascii():
            return self._conn.send_message(msg, from_addr=self.envelope_from, to_addrs=to)
        return self._conn.sendmail(self.envelope_from, to, data)

    def send(self, msg: EmailMessage) -> SendResult:
        """Send ``msg`` to its To/Cc/Bcc; retry transient trouble, report permanent refusals."""
        pending = recipients_of(msg)
        if not pending:
            raise ValueError(f"message {msg.get('Message-ID')} has no recipients")
        accepted: list[str] = []
        refused: dict[str, str] = {}
        transient: dict[str, str] = {}
        last_error = ""
        attempts = max(1, self.cfg.retries + 1)
        for attempt in range(attempts):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                log.info("smtp: retry %d/%d in %.1fs (%s)", attempt, attempts - 1, delay, last_error)
                self._sleep(delay)
            transient = {}
            try:
                self.open()
                assert self._conn is not None
                self._pace()
                errors = self._transmit(msg, pending)
            except smtplib.SMTPRecipientsRefused as exc:  # nobody got it (or a 421 cut RCPT short)
                if any(_code(code) == 421 for code, _ in exc.recipients.values()):
                    self.close()  # smtplib has dropped the socket; otherwise it sent RSET
                errors = {}
                for rcpt, (code, resp) in exc.recipients.items():
                    (refused if _code(code) >= 500 else transient)[rcpt] = _reply(code, resp)
                pending = [r for r in pending if r not in refused]
                last_error = "; ".join(f"{r}: {why}" for r, why in {**refused, **transient}.items())
                if not pending:
                    break
                continue
            except smtplib.SMTPDataError as exc:
                if exc.smtp_code == 421:
                    self.close()
                last_error = _reply(exc.smtp_code, exc.smtp_error)
                if exc.smtp_code >= 500:  # the message itself is refused, for everyone
                    refused.update({r: last_error for r in pending})
                    pending = []
                    break
                continue
            except smtplib.SMTPSenderRefused as exc:
                self.close()
                last_error = _reply(exc.smtp_code, exc.smtp_error)
                if exc.smtp_code >= 500:
                    raise SmtpPermanentError(f"sender {exc.sender!r} refused: {last_error}") from exc
                continue
            except smtplib.SMTPAuthenticationError as exc:
                self.close()
                raise SmtpPermanentError(
                    f"SMTP login refused for user {self.user!r}: {exc.smtp_code}"
                ) from exc
            except smtplib.SMTPNotSupportedError as exc:
                self.close()
                refused.update({r: f"553 {exc}" for r in pending})
                pending = []
                break
            except ssl.SSLCertVerificationError as exc:
                self.close()
                raise SmtpPermanentError(f"TLS certificate of {self.cfg.host} not trusted: {exc}") from exc
            except smtplib.SMTPResponseException as exc:
                self.close()
                last_error = _reply(exc.smtp_code, exc.smtp_error)
                if exc.smtp_code >= 500:
                    raise SmtpPermanentError(last_error) from exc
                continue
            except _DISCONNECTS as exc:
                self.close()
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            for rcpt in pending:
                if rcpt in errors:
                    code, resp = errors[rcpt]
                    (refused if _code(code) >= 500 else transient)[rcpt] = _reply(code, resp)
                else:
                    accepted.append(rcpt)
            pending = list(transient)
            if not pending:
                break
            last_error = "; ".join(f"{r}: {why}" for r, why in transient.items())
        if pending and accepted:  # delivered to some; the rest gave up transiently
            refused.update(
                {r: f"{transient.get(r, last_error)} (gave up after {attempts} tries)" for r in pending}
            )
        elif pending:  # nobody has it yet: leave the whole message for the next run
            raise SmtpTransientError(f"gave up after {attempts} tries: {last_error}")
        return SendResult(accepted=accepted, refused=refused)
