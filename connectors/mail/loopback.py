"""A real SMTP server on 127.0.0.1 that keeps every message as an ``.eml`` file.

The demo points the notices at it, and the tests use it to prove what arrived: it runs
aiosmtpd in a thread, stores each accepted message as ``{n:05d}-{message-id}.eml`` and can
misbehave on request (421/451 replies, 550 for a recipient, a dropped connection) so that
retry and bookkeeping paths are exercised against a real protocol, not a mock.

    python -m connectors.mail.loopback --dir var/maildir --port 8025
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import ipaddress
import re
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["DROP", "FaultEvent", "FaultPlan", "LoopbackSmtpServer", "free_port", "main", "self_signed_tls"]

#: A fault reply meaning "close the connection without answering".
DROP = "DROP"


@dataclass(frozen=True)
class FaultEvent:
    """One point where a fault may be injected.

    ``phase`` is ``RCPT`` or ``DATA``; ``data_number`` counts DATA commands seen so far
    (1-based, including this one at DATA and refused ones); ``attempt`` is how many times this
    Message-ID has reached DATA (1 on first sight); ``recipient`` is set at RCPT.
    """

    phase: str
    data_number: int
    recipient: str | None = None
    message_id: str | None = None
    attempt: int = 0


@dataclass
class FaultPlan:
    """Declarative faults: the common cases without writing a callable.

    ``data_replies``: DATA number → reply (e.g. ``{3: "421 4.3.2 try later"}``);
    ``message_replies``: Message-ID → replies for its first attempts (``["451 4.7.1 greylisted"]``);
    ``recipient_replies``: recipient → reply at every RCPT (``"550 5.1.1 no such user"``);
    ``drop_at_data``: DATA numbers at which the connection is dropped unanswered.
    """

    data_replies: dict[int, str] = field(default_factory=dict)
    message_replies: dict[str, list[str]] = field(default_factory=dict)
    recipient_replies: dict[str, str] = field(default_factory=dict)
    drop_at_data: set[int] = field(default_factory=set)

    def __call__(self, ev: FaultEvent) -> str | None:
        if ev.phase == "RCPT":
            return self.recipient_replies.get((ev.recipient or "").lower()) or self.recipient_replies.get(
                ev.recipient or ""
            )
        if ev.data_number in self.drop_at_data:
            return DROP
        if ev.data_number in self.data_replies:
            return self.data_replies[ev.data_number]
        replies = self.message_replies.get(ev.message_id or "", [])
        if 0 < ev.attempt <= len(replies):
            return replies[ev.attempt - 1]
        return None


Fault = Callable[[FaultEvent], str | None]

_MID = re.compile(rb"^Message-ID:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def self_signed_tls(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server, trusting client) contexts around a fresh self-signed certificate for 127.0.0.1,
    written to ``tmp``: for TLS against the loopback server in tests and campaigns."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    tmp.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = tmp / "cert.pem", tmp / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_pem, key_pem)
    client = ssl.create_default_context(cafile=str(cert_pem))
    return server, client


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _message_id(content: bytes) -> str:
    head = content.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = _MID.search(head)
    return m.group(1).decode("ascii", "replace").strip() if m else ""


class _Handler:
    def __init__(self, server: LoopbackSmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        owner = self.server
        with owner._lock:
            reply = owner._fault(FaultEvent("RCPT", owner._data_count, recipient=address))
        if reply == DROP:
            server.transport.abort()
            return "421 4.4.2 connection dropped"
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        owner = self.server
        content: bytes = envelope.original_content or b""
        mid = _message_id(content)
        with owner._lock:
            owner._data_count += 1
            owner._attempts[mid] = owner._attempts.get(mid, 0) + 1
            ev = FaultEvent("DATA", owner._data_count, message_id=mid, attempt=owner._attempts[mid])
            reply = owner._fault(ev)
            if reply == DROP:
                owner.dropped += 1
                server.transport.abort()
                return "421 4.4.2 connection dropped"
            if reply:
                owner.replies.append(reply)
                return reply
            owner._store(content, mid, list(envelope.rcpt_tos), envelope.mail_from)
        return "250 OK: queued"


class _QuietController(Controller):
    """Silences aiosmtpd's warning about AUTH without STARTTLS: under implicit TLS it is moot."""

    def factory(self) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


class LoopbackSmtpServer:
    """aiosmtpd on 127.0.0.1 writing each accepted message to ``maildir``; a context manager.

    ``faults`` is a ``FaultPlan`` or any callable ``FaultEvent → reply | DROP | None``.
    ``tls_context`` enables STARTTLS; ``implicit_tls`` serves TLS from the first byte (port 465
    style); ``auth`` = (user, password) requires AUTH (aiosmtpd only offers it over TLS).
    """

    def __init__(
        self,
        maildir: Path,
        *,
        port: int | None = None,
        faults: Fault | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        auth: tuple[str, str] | None = None,
        keep_in_memory: bool = True,
    ) -> None:
        self.maildir = Path(maildir)
        self.port = port or free_port()
        self._fault: Fault = faults or (lambda ev: None)
        self._lock = threading.Lock()
        self._data_count = 0
        self._attempts: dict[str, int] = {}
        self._count = 0
        self.keep_in_memory = keep_in_memory
        self._raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.replies: list[str] = []
        self.dropped = 0
        self.logins: list[str] = []
        kwargs: dict[str, Any] = {}
        if tls_context is not None and not implicit_tls:
            kwargs["tls_context"] = tls_context
        if auth is not None:
            kwargs["authenticator"] = self._authenticator(auth)
            kwargs["auth_required"] = True
            if implicit_tls:  # the whole session is TLS; aiosmtpd only recognises STARTTLS as such
                kwargs["auth_require_tls"] = False
        self._controller = _QuietController(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=tls_context if implicit_tls else None,
            **kwargs,
        )

    def _authenticator(self, auth: tuple[str, str]) -> Callable[..., AuthResult]:
        def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            if isinstance(data, LoginPassword):
                ok = (data.login.decode(), data.password.decode()) == auth
                if ok:
                    self.logins.append(data.login.decode())
                return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535
            return AuthResult(success=False, handled=False)

        return check

    def _store(self, content: bytes, mid: str, rcpts: list[str], mail_from: str) -> None:
        self._count += 1
        safe = re.sub(r"[^A-Za-z0-9@._-]+", "_", mid.strip("<>"))[:120] or "no-id"
        path = self.maildir / f"{self._count:05d}-{safe}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
        self.envelopes.append((mail_from, rcpts))
        if self.keep_in_memory:
            self._raw.append(content)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> LoopbackSmtpServer:
        self.maildir.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LoopbackSmtpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what arrived --------------------------------------------------------------------
    @property
    def count(self) -> int:
        return self._count

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed (from memory, or from the maildir files)."""
        with self._lock:
            raw = list(self._raw) if self.keep_in_memory else [p.read_bytes() for p in self.files()]
        return [email.message_from_bytes(b, policy=email.policy.default) for b in raw]  # type: ignore[misc]

    def files(self) -> list[Path]:
        return sorted(self.maildir.glob("*.eml"))

    def message_ids(self) -> list[str]:
        """Message-IDs of the stored messages, read from the maildir (survives other processes)."""
        return [_message_id(p.read_bytes()) for p in self.files()]


def main(argv: list[str] | None = None) -> None:
    """Run the server in the foreground until interrupted (for the demo)."""
    ap = argparse.ArgumentParser(description="Loopback SMTP server that keeps messages as .eml files")
    ap.add_argument("--dir", type=Path, default=Path("var/maildir"))
    ap.add_argument("--port", type=int, default=8025)
    args = ap.parse_args(argv)
    with LoopbackSmtpServer(args.dir, port=args.port) as srv:
        print(f"SMTP on 127.0.0.1:{srv.port}, messages in {srv.maildir.resolve()}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
