"""The parent's side of ``hardening.child``: start a job, watch its lines, kill it, reap it.

Reads are bounded by deadlines (``select`` on the pipe), so a hung job becomes a reported
problem instead of a hung campaign.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from duban.settings import REPO_ROOT

__all__ = ["Forker", "JobRun"]


@dataclass
class JobRun:
    """What one forked job printed."""

    pid: int
    lines: list[str] = field(default_factory=list)
    killed: bool = False
    status: int | None = None

    @property
    def done(self) -> dict[str, Any] | None:
        for line in self.lines:
            if line.startswith("done "):
                return json.loads(line[5:])
        return None

    @property
    def error(self) -> str | None:
        for line in self.lines:
            if line.startswith("error "):
                return line[6:]
        return None

    @property
    def progress(self) -> list[str]:
        return [line[9:] for line in self.lines if line.startswith("progress ")]

    @property
    def finished(self) -> bool:
        return self.done is not None or self.error is not None


class Forker:
    """One ``python -m hardening.child`` helper; use as a context manager."""

    def __init__(self, stderr_path: Path, *, env: dict[str, str] | None = None) -> None:
        self.stderr_path = stderr_path
        self.env = env
        self._buf = b""
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Forker:
        self.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        self._err = self.stderr_path.open("ab")
        env = {**os.environ, **(self.env or {}), "PYTHONPATH": str(REPO_ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hardening.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
            cwd=REPO_ROOT,
        )
        first = self._line(120)
        if first != "helper ready":
            raise RuntimeError(f"hardening.child did not start: {first!r} (see {self.stderr_path})")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.proc is not None
        if self.proc.stdin:
            try:
                self.proc.stdin.write(b'{"job": "quit"}\n')
                self.proc.stdin.flush()
            except OSError:  # the helper is gone already
                pass
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._err.close()

    # -- lines ----------------------------------------------------------------------------
    def _line(self, timeout: float) -> str | None:
        """The next line, or None when ``timeout`` passed or the helper's output ended."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").strip()

    def _send(self, text: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    # -- jobs -----------------------------------------------------------------------------
    def start(self, job: str, env: dict[str, str], args: dict[str, Any] | None = None) -> JobRun:
        self._send(json.dumps({"job": job, "env": env, "args": args or {}}, ensure_ascii=False))
        first = self._line(60)
        if not first or not first.startswith("pid "):
            raise RuntimeError(f"job {job} did not start: {first!r}")
        return JobRun(int(first.split()[1]))

    def read(self, run: JobRun, *, progress: int | None = None, timeout: float = 120) -> bool:
        """Read until the job is ``ready`` and ``progress`` more progress lines came (all, if None)
        or it ended; False when ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        seen = 0
        while not run.finished:
            if progress is not None and seen >= progress and "ready" in run.lines:
                break
            line = self._line(max(0.0, deadline - time.monotonic()))
            if line is None:
                return False
            run.lines.append(line)
            seen += line.startswith("progress ")
        return True

    def kill(self, run: JobRun) -> None:
        """SIGKILL the job (our own unreaped child: the pid is still its, even if it has exited)."""
        os.kill(run.pid, signal.SIGKILL)
        run.killed = True

    def reap(self, run: JobRun, *, timeout: float = 120) -> JobRun:
        """Let the helper reap the job; collects the lines not read yet."""
        self._send("reap")
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError(f"helper did not reap job {run.pid} (see {self.stderr_path})")
            if line.startswith("reaped "):
                run.status = int(line.split()[1])
                return run
            run.lines.append(line)

    def run(
        self, job: str, env: dict[str, str], args: dict[str, Any] | None = None, *, timeout: float = 300
    ) -> JobRun:
        """Run a job to its end (killed after ``timeout`` seconds: a hang is reported as an error line)."""
        run = self.start(job, env, args)
        if not self.read(run, timeout=timeout):
            self.kill(run)
            run.lines.append(f"error hang: no end after {timeout:.0f}s")
        return self.reap(run)
