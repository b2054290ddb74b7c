"""Visible waiting: a line (on stderr, never in --json stdout) whenever a run waits — a back-off after a
CRM error, an answer that is slow in coming, another run's lock — and a live status on a terminal."""

import os
import pty
import subprocess
import threading

import pytest

from crmsync.http.policy import RetryPolicy
from crmsync.waiting import add_sink
from tests.integration.http.test_session_against_fakes import amo_session
from tests.integration.test_cli import crmsync_cmd


@pytest.fixture
def lines():
    seen: list[str] = []
    stop = add_sink(seen.append)
    yield seen
    stop()


def test_a_back_off_says_why_and_for_how_long(fake_crm, lines):
    server = fake_crm("amocrm", contacts=3, rate_limit=False, faults=["503:x1"])
    session = amo_session(sleep=lambda _: None,
                          retry=RetryPolicy(max_attempts=3, initial_backoff_seconds=4, honor_retry_after=False))
    assert session.get(server.url + "/api/v4/contacts").status_code == 200
    (line,) = [x for x in lines if "retrying in" in x]
    assert "HTTP 503" in line and "(attempt 2 of 3)" in line and " s " in line


def test_a_slow_answer_is_told_while_it_is_awaited(fake_crm, lines, monkeypatch):
    monkeypatch.setenv("CRMSYNC_SLOW_ANSWER_SECONDS", "0.5")
    server = fake_crm("amocrm", contacts=3, rate_limit=False)
    server.faults.add("hang", count=1, hang_seconds=5)
    session = amo_session(sleep=lambda _: None, timeout=(2, 2))
    assert session.get(server.url + "/api/v4/contacts").status_code == 200
    assert any("has not answered for" in x and "GET" in x and "/api/v4/contacts" in x for x in lines), lines


def test_waiting_for_another_runs_lock_is_told(project, amo):  # noqa: F811
    from filelock import FileLock

    (project / ".crmsync" / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(project / ".crmsync" / "locks" / "run-amocrm.lock")):
        r = subprocess.run([*crmsync_cmd(), "pull", "amocrm", "--json", "--project-dir", str(project)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "CRMSYNC_LOCK_WAIT_SECONDS": "1"})
    assert r.returncode == 4
    assert "waiting up to 1.0 s for another run of connection 'amocrm'" in r.stderr
    assert r.stdout.lstrip().startswith("{")  # stdout: only the JSON document


def test_a_terminal_gets_a_live_status_and_stdout_stays_plain(project, amo):  # noqa: F811
    master, slave = pty.openpty()
    proc = subprocess.Popen([*crmsync_cmd(), "pull", "amocrm", "--project-dir", str(project)],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:  # read while it runs: a full terminal buffer would block the command
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(master)
    terminal = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0 and out.startswith("pulled amocrm")
    assert "reading contact, deal, task from amocrm" in terminal and "\x1b[" in terminal  # rich drew on it
    assert "\x1b[" not in out
