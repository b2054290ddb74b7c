"""Pacing holds the window as the CRM counts it, on a machine whose cores are busy.

Several threads read the rate-limited fake AmoCRM (7 requests/s, counted when each request arrives)
through one connection's session while CPU hogs run beside them: thread scheduling then delays
requests between the moment the pacer lets them go and the moment they reach the server. Not one
may be refused, and the pace must stay near the ceiling.
"""

import subprocess
import sys
import threading
import time

import pytest

from crmsync.connections.session import authorized_session
from crmsync.project import Project
from tests.integration.test_pull_cli import run_here

HOG = "import time\nend = time.time() + 60\nwhile time.time() < end:\n    pass\n"


@pytest.fixture
def hogs():
    """Two busy processes (they end by themselves after a minute if the test dies)."""
    procs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def test_paced_reads_beside_cpu_hogs_are_never_refused(tmp_path, fake_crm, hogs):
    amo = fake_crm("amocrm", contacts=300, deals=5, tasks=5)   # rate limit on: 7 per second
    run_here(tmp_path, "init", str(tmp_path / "p"))
    project = Project.at(tmp_path / "p")
    run_here(project.root, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
             "--long-lived-token", "demo-token")
    session = authorized_session(project, "amocrm")
    per_thread, threads = 12, 4
    failures: list[str] = []

    def reader(offset: int) -> None:
        for i in range(per_thread):
            r = session.get("api/v4/contacts", params={"limit": 50, "page": 1 + (offset + i) % 6})
            if r.status_code != 200:
                failures.append(str(r.status_code))

    amo.app.rate_limited = 0
    started = time.monotonic()
    workers = [threading.Thread(target=reader, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.monotonic() - started
    sent = per_thread * threads
    assert failures == []
    assert amo.app.rate_limited == 0, f"the fake refused {amo.app.rate_limited} requests"
    assert session.stats.throttled == 0
    # A burst of 7 at once, then 7 per (window + one answer's latency): well under 2x the bare ceiling.
    assert seconds < (sent - 7) / 7 * 1.6 + 1, seconds
