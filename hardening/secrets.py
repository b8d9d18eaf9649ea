"""Secrets never in logs, artifacts or .eml files.

The SMTP password and the API token are configured the way production configures them
(``DUBAN_SMTP_PASSWORD``, ``DUBAN_ZZD_TOKEN``), then used — and misused: a wrong password, a
server that echoes the token back in its error. Everything that could carry them is kept
and searched: every log record at DEBUG (duban's, httpx's, aiosmtpd's …), the command line's
stdout and stderr, every file under DUBAN_HOME (the store included), the delivered and the
dry-run .eml files, and the settings' repr. A secret is also looked for in the forms it takes
on the wire (base64 of AUTH PLAIN/LOGIN, ``Bearer …``).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from connectors.api.loopback import Fault, LoopbackApi
from connectors.mail.loopback import LoopbackSmtpServer, self_signed_tls
from connectors.mail.smtp import SmtpSender
from duban.errors import DubanError
from duban.settings import REPO_ROOT
from duban_app.collect import collect_api
from duban_app.context import AppContext
from duban_app.notices import run_stage
from hardening.apifaults import api_records, write_sources
from hardening.crash import WHEN
from hardening.report import CampaignResult
from hardening.world import World, settings_for

__all__ = ["CLI_RUNS", "SECRETS", "forms", "scan", "secrets_scan"]

USER = "duban-ops"
PASSWORD = "Smtp-pw-5e1f0a9c77"
WRONG_PASSWORD = "Smtp-wrong-3b8d2e41"
TOKEN = "api-tok-c4a91f2e6b0d"
SECRETS = (PASSWORD, WRONG_PASSWORD, TOKEN)


def forms(secret: str, user: str = USER) -> list[bytes]:
    """The secret as text and in the encodings SMTP AUTH and HTTP would put it on a wire."""
    raw = secret.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.b64encode(b"\0" + user.encode() + b"\0" + raw),
        f"Bearer {secret}".encode(),
    ]


def scan(blobs: dict[str, bytes]) -> list[str]:
    """Names of the blobs that contain any form of any secret."""
    found = []
    for name, blob in blobs.items():
        for secret in SECRETS:
            if any(f in blob for f in forms(secret)):
                found.append(f"{name} contains {'the API token' if secret == TOKEN else 'an SMTP password'}")
    return found


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot format is still searched by its parts
            self.lines.append(f"{record.msg!r} {record.args!r}")


def _cli(args: list[str], env: dict[str, str]) -> bytes:
    done = subprocess.run(
        [sys.executable, "-m", "duban_app.cli.main", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=300,
        env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    return done.stdout + done.stderr


#: CLI runs: name → (arguments, the SMTP password configured for it)
CLI_RUNS: dict[str, tuple[list[str], str]] = {
    "collect": (["collect", "--source", "zzd_progress"], PASSWORD),
    "remind (wrong password)": (["remind", "--period", "2026Q4", "--stage", "open"], WRONG_PASSWORD),
    "outbox": (["outbox", "--period", "2026Q4"], PASSWORD),
}


def secrets_scan(world: World, root: Path, *, cli: tuple[str, ...] = tuple(CLI_RUNS)) -> CampaignResult:
    """``cli`` names the command-line runs (of ``CLI_RUNS``) whose output is searched too."""
    res = CampaignResult(
        "secrets: logs, artifacts, .eml",
        "SMTP password and API token used, refused and echoed; "
        "logs at DEBUG, CLI output, every file under DUBAN_HOME, delivered and dry-run .eml searched",
    )
    started = time.monotonic()
    blobs: dict[str, bytes] = {}
    capture = _Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root_logger = logging.getLogger()
    old_level = root_logger.level
    root_logger.addHandler(capture)
    root_logger.setLevel(logging.DEBUG)
    out = io.StringIO()
    server_tls, trusting = self_signed_tls(root / "tls")
    with world.trial_of("stale") as t, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        cfg = write_sources(world.config_dir, root / "config", "cursor")
        maildir, outbox = root / "maildir", root / "outbox"
        with (
            LoopbackSmtpServer(
                maildir, tls_context=server_tls, implicit_tls=True, auth=(USER, PASSWORD)
            ) as smtp,
            LoopbackApi(api_records(world)[:24], token=TOKEN, page_size=10) as api,
        ):
            os.environ["DUBAN_SOURCE_ZZD_PROGRESS_URL"] = api.base_url
            try:
                smtp_kw = {
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "security": "ssl",
                    "user": USER,
                    "rate_per_second": 0,
                }
                good = settings_for(t.home, t.url, cfg, password=PASSWORD, **smtp_kw)
                bad = settings_for(t.home, t.url, cfg, password=WRONG_PASSWORD, **smtp_kw)
                blobs["repr(settings)"] = (repr(good) + str(good) + good.model_dump_json()).encode()
                ctx = AppContext(good)
                try:
                    rep = collect_api(ctx, token=TOKEN)
                    res.notes.append(f"API pull with the token: {rep.api_records_new} records")
                    api.set_faults(
                        Fault(
                            "status",
                            status=403,
                            times=100,
                            body=json.dumps({"error": f"token {TOKEN} is not allowed"}),
                        )
                    )
                    try:
                        collect_api(ctx, token=TOKEN)
                        res.problem("a 403 echoing the token did not fail the pull")
                    except DubanError as exc:
                        blobs["API error message"] = str(exc).encode()
                    api.set_faults()
                    sent = run_stage(
                        ctx,
                        "2026Q4",
                        "due",
                        when=lambda: WHEN,
                        sender=SmtpSender(good.smtp, ssl_context=trusting, backoff_s=0.01),
                    ).report
                    res.notes.append(f"SMTP with login: {sent.sent} notices sent")
                    run_stage(ctx, "2026Q4", "remind", dry_run=True, outbox_dir=outbox, when=lambda: WHEN)
                finally:
                    ctx.close()
                ctx = AppContext(bad)
                try:
                    refused = run_stage(
                        ctx,
                        "2026Q4",
                        "overdue",
                        when=lambda: WHEN,
                        sender=SmtpSender(bad.smtp, ssl_context=trusting, backoff_s=0.01),
                    ).report
                    blobs["refused run report"] = "\n".join([refused.stopped or "", *refused.lines]).encode()
                    if not refused.failed:
                        res.problem("a wrong SMTP password did not fail the stage")
                finally:
                    ctx.close()
                if cli:
                    env = {
                        "DUBAN_HOME": str(t.home),
                        "DUBAN_DATABASE_URL": t.url,
                        "DUBAN_CONFIG_DIR": str(cfg),
                        "DUBAN_SMTP_HOST": "127.0.0.1",
                        "DUBAN_SMTP_PORT": str(smtp.port),
                        "DUBAN_SMTP_SECURITY": "ssl",
                        "DUBAN_SMTP_USER": USER,
                        "DUBAN_SMTP__RATE_PER_SECOND": "0",
                        "SSL_CERT_FILE": str(root / "tls" / "cert.pem"),
                        "DUBAN_ZZD_TOKEN": TOKEN,
                        "DUBAN_SOURCE_ZZD_PROGRESS_URL": api.base_url,
                    }
                    for name in cli:
                        args, password = CLI_RUNS[name]
                        blobs[f"cli: {name}"] = _cli(args, {**env, "DUBAN_SMTP_PASSWORD": password})
            finally:
                os.environ.pop("DUBAN_SOURCE_ZZD_PROGRESS_URL", None)
        root_logger.removeHandler(capture)
        root_logger.setLevel(old_level)
        files = [p for d in (t.home, maildir, outbox) for p in d.rglob("*") if p.is_file()]
        for p in files:
            blobs[str(p.relative_to(p.parents[len(p.parents) - 3]))] = p.read_bytes()
        blobs["captured stdout/stderr"] = out.getvalue().encode()
        blobs["log records"] = "\n".join(capture.lines).encode()
    for finding in scan(blobs):
        res.problem(finding)
    res.trials = len(blobs)
    res.notes.append(
        f"searched {len(blobs)} outputs ({len(files)} files, {len(capture.lines)} log records, "
        f"{sum(len(b) for b in blobs.values()):,} bytes) for {len(SECRETS)} secrets in 4 encodings"
    )
    if len(capture.lines) < 10 or not list(maildir.glob("*.eml")):
        res.problem("too little was captured or delivered: the scan proves nothing")
    res.seconds = time.monotonic() - started
    return res
