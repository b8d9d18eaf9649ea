"""Kill the sending process with SIGKILL at random points; the rerun must finish the job.

Each trial plans 200 notices in a fresh SQLite store and lets a separate process deliver
them to the loopback SMTP server. The parent kills that process after a random number of
its progress lines plus a random sliver of time, so kills land inside commits, renders and
SMTP transactions alike, then delivers again to completion. Every unit must have its notice,
and only the one notice in flight at the kill may arrive twice.

Start-up (imports) would dominate ten trials, so one helper process imports everything once
and forks a fresh sender process per run (the killed one and the rerun); the SMTP server runs
in the test process, the senders beside it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.mail.loopback import LoopbackSmtpServer
from duban.notices.outbox import plan_notices
from duban.settings import REPO_ROOT
from duban.store import open_store
from duban.store.db import Store
from duban.store.models import NoticeRow
from tests.smtp_helpers import mid

pytestmark = pytest.mark.slow

N_UNITS = 200
TRIALS = 10

# Reads "URL PORT"; forks a process that delivers the stage ("pid N", a line per notice, "done")
# and exits; then waits for "reap" before reaping it, so its pid stays reserved (a zombie at
# worst) until the test has finished killing it.
FORKER = r"""
import os
import sys

from connectors.mail.smtp import SmtpSender
from duban.notices.outbox import deliver
from duban.store.db import Store
from tests.smtp_helpers import small_notice, smtp_cfg

for line in sys.stdin:
    url, port = line.split()
    pid = os.fork()
    if pid == 0:
        print(f"pid {os.getpid()}", flush=True)
        store = Store(url)
        with SmtpSender(smtp_cfg(int(port), retries=2), sleep=lambda s: None) as sender:
            deliver(store, "2026Q4", "due", build=small_notice, sender=sender,
                    on_progress=lambda unit, state: print(state, unit, flush=True))
        print("done", flush=True)
        os._exit(0)
    assert sys.stdin.readline().strip() == "reap"
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""


class Forker:
    """The parent's side of the helper: start a sender process, read its lines, reap it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc, self.stdin, self.stdout = proc, proc.stdin, proc.stdout

    def start(self, url: str, port: int) -> int:
        self.stdin.write(f"{url} {port}\n")
        self.stdin.flush()
        first = self.stdout.readline().split()
        assert first[:1] == ["pid"], f"sender did not start: {first}"
        return int(first[1])

    def read(self, n: int | None = None) -> list[str]:
        """Up to ``n`` lines (all, if None) until the sender says "done" or its output ends."""
        lines: list[str] = []
        while n is None or len(lines) < n:
            line = self.stdout.readline()
            lines.append(line.strip())
            if line.strip() == "done" or not line:
                break
        return lines

    def reap(self) -> list[str]:
        """Let the helper reap the sender; returns the sender's lines not read yet."""
        self.stdin.write("reap\n")
        self.stdin.flush()
        rest: list[str] = []
        while not rest or rest[-1] != "reaped":
            line = self.stdout.readline()
            assert line, "the forking helper died"
            rest.append(line.strip())
        return rest[:-1]


@pytest.fixture
def forker() -> Iterator[Forker]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FORKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )
    yield Forker(proc)
    if proc.stdin:
        proc.stdin.close()
    proc.wait(timeout=30)


def _states(store: Store) -> dict[str, str]:
    with store.session() as s:
        return dict(s.execute(select(NoticeRow.unit, NoticeRow.state)).tuples().all())


def test_sigkill_at_random_points_then_rerun_sends_each_notice_once_at_most_one_repeat(
    tmp_path: Path, forker: Forker
) -> None:
    rng = random.Random(20260108)
    units = [f"unit{i:03d}" for i in range(N_UNITS)]
    expected = {mid(u): u for u in units}
    template = tmp_path / "template.db"
    open_store(f"sqlite:///{template}").dispose()  # migrated once, copied per trial
    killed = 0
    for trial in range(TRIALS):
        db = tmp_path / f"trial{trial}.db"
        shutil.copy(template, db)
        url = f"sqlite:///{db}"
        store = Store(url)
        plan_notices(store, "2026Q4", "due", [(u, [f"{u}@example.gov.cn"], mid(u)) for u in units])
        with LoopbackSmtpServer(tmp_path / f"maildir{trial}", keep_in_memory=False) as srv:
            pid = forker.start(url, srv.port)
            seen = forker.read(rng.randint(0, N_UNITS - 1))
            time.sleep(rng.uniform(0, 0.004))
            os.kill(pid, signal.SIGKILL)  # our own fork, not yet reaped: the pid is still its
            seen += forker.reap()
            killed += "done" not in seen

            in_flight = [u for u, s in _states(store).items() if s == "sending"]
            assert len(in_flight) <= 1, f"trial {trial}: {in_flight} all in flight at once"

            forker.start(url, srv.port)  # the rerun, to completion
            rerun = forker.read()
            forker.reap()
            assert rerun[-1] == "done", f"trial {trial}: rerun ended with {rerun[-3:]}"
            assert not [line for line in rerun if line.startswith("failed")], f"trial {trial}: {rerun}"
            assert set(_states(store).values()) == {"sent"}

            counts = Counter(srv.message_ids())
            assert set(counts) == set(expected), f"trial {trial}: missing {set(expected) - set(counts)}"
            repeated = [expected[m] for m, c in counts.items() if c > 1]
            assert max(counts.values()) <= 2, f"trial {trial}: {counts.most_common(3)}"
            assert set(repeated) <= set(in_flight), (
                f"trial {trial}: {repeated} repeated, in flight {in_flight}"
            )
        store.dispose()
    assert killed >= TRIALS // 2, f"only {killed} of {TRIALS} kills landed mid-batch"
