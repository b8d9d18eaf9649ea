"""The process that gets killed: imports duban once, then forks one child per job.

Why forking: importing duban, SQLAlchemy, calamine and friends takes seconds, which would
dominate a campaign of short trials. This helper (``python -m hardening.child``) imports
everything once and reads one JSON command per line on stdin::

    {"job": "collect" | "reconcile" | "remind" | "api", "env": {...}, "args": {...}}

and ``{"job": "quit"}`` to leave.

For each it forks a child that sets the environment, runs the job through the same
``duban_app`` functions the CLI and the flows call, and prints ``pid N``, ``ready``, a
``progress …`` line per file or notice, then ``done {json}`` or ``error Type: message``.
The helper then waits for ``reap`` on stdin before reaping the child, so the child's pid stays
reserved (a zombie at worst) while the parent may still be killing it; it answers
``reaped <exit status>``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg  # noqa: F401
import sqlalchemy.dialects.postgresql  # noqa: F401
from alembic import command  # noqa: F401

import connectors.api
import connectors.spreadsheets  # noqa: F401
from connectors.mail.smtp import SmtpSender
from duban.notices.outbox import SendResult
from duban.settings import get_settings
from duban_app.collect import collect_api, collect_files
from duban_app.context import AppContext
from duban_app.cycle import reconcile_period
from duban_app.notices import run_stage

__all__ = ["ProgressSender", "main", "run_job"]

PERIOD = "2026Q4"


def emit(*parts: object) -> None:
    print(*parts, flush=True)


class ProgressSender:
    """Wraps a sender: one ``progress sent <Message-ID>`` line after each accepted send."""

    def __init__(self, inner: SmtpSender) -> None:
        self.inner = inner

    def __enter__(self) -> ProgressSender:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)  # type: ignore[arg-type]

    def send(self, msg: EmailMessage) -> SendResult:
        result = self.inner.send(msg)
        emit("progress", "sent", msg["Message-ID"])
        return result


def run_job(job: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one job in this process; returns what ``done`` reports."""
    ctx = AppContext()
    try:
        emit("ready")
        started = time.monotonic()
        if job == "collect":
            files = [Path(p) for p in args["files"]]
            rep = collect_files(ctx, files, on_file=lambda p: emit("progress", p.name))
            out: dict[str, Any] = rep.as_dict()
        elif job == "reconcile":
            today = datetime.fromisoformat(args["today"]).date() if args.get("today") else None
            r = reconcile_period(ctx, args.get("period", PERIOD), today=today)
            out = {"findings": r.findings, "expected": r.expected, "received": r.received}
        elif job == "remind":
            when = datetime.fromisoformat(args["when"])
            sender = ProgressSender(
                SmtpSender(ctx.settings.smtp, backoff_s=float(args.get("backoff_s", 0.05)))
            )
            res = run_stage(ctx, args.get("period", PERIOD), args["stage"], when=lambda: when, sender=sender)
            r = res.report
            out = {
                "planned": res.planned,
                "sent": r.sent,
                "skipped": r.skipped,
                "failed": r.failed,
                "already_sent": r.already_sent,
                "pending": r.pending,
                "stopped": r.stopped,
            }
        elif job == "api":
            rep = collect_api(ctx, period=args.get("period"))
            out = rep.as_dict()
        else:
            raise ValueError(f"unknown job {job!r}")
        out["elapsed"] = time.monotonic() - started
        return out
    finally:
        ctx.close()


def _child(cmd: dict[str, Any]) -> None:
    os.environ.update(cmd.get("env", {}))
    get_settings.cache_clear()
    emit("pid", os.getpid())
    try:
        out = run_job(cmd["job"], cmd.get("args", {}))
    except BaseException as exc:  # report any failure as a line; the parent judges it
        traceback.print_exc(file=sys.stderr)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        emit("error", f"{type(exc).__module__}.{type(exc).__name__}: {first}"[:600])
        sys.stdout.flush()
        os._exit(3)
    emit("done", json.dumps(out, ensure_ascii=False, default=str))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    emit("helper ready")
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        if cmd.get("job") == "quit":  # not EOF alone: processes forked by the test process (its
            break  # kept reader pool) inherit the write end of this stdin and keep it open
        pid = os.fork()
        if pid == 0:
            _child(cmd)
        reap = sys.stdin.readline().strip()
        assert reap == "reap", f"expected 'reap', got {reap!r}"
        _, status = os.waitpid(pid, 0)
        emit("reaped", status)


if __name__ == "__main__":
    main()
