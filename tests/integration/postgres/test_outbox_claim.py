"""Two workers pushing the same plan from one Postgres outbox at once: every write is claimed, and so sent,
by exactly one of them (``FOR UPDATE SKIP LOCKED``)."""

import json
import subprocess
import sys

from crmsync.canonical.tables import ensure
from crmsync.project import Project
from crmsync.push.outbox import claim, enqueue
from crmsync.store import POSTGRES, open_store
from crmsync.store_postgres import DEFAULT_DSN_ENV
from tests.integration.connections.helpers import cli_env

OPS = 240

# One worker: plan the same ops (same idempotency keys: enqueue reuses the stored rows), then claim and
# "send" them batch by batch, as crmsync.push.run does, recording the CRM's answer for what it sent. Reusing
# a row another worker has claimed since it was read must not reopen it (crmsync.push.outbox.enqueue).
_WORKER = f"""
import json, sys, time
from pathlib import Path
from crmsync.push.outbox import Op, claim, enqueue, mark_all_sent
from crmsync.store import open_store

def planned():
    return [Op(kind="create", entity="contact", connection="amo", canonical_id=f"c{{i}}", remote_id=None,
               fields=["name"], values={{"name": f"n{{i}}"}}, payload={{"name": f"n{{i}}"}}, idempotency_key=f"k{{i}}")
            for i in range({OPS})]

sent = []
with open_store(Path(sys.argv[1]) / "{POSTGRES}{DEFAULT_DSN_ENV}") as con:
    print("ready", flush=True)
    sys.stdin.readline()  # the gun: both workers are connected
    con.execute("BEGIN")
    ops = enqueue(con, sys.argv[2], "amo", "contact", planned())
    con.execute("COMMIT")
    if sys.argv[2] == "run-2":  # from the other end: the workers meet and contend in the middle
        ops.reverse()
    for start in range(0, len(ops), 6):
        mine = claim(con, ops[start:start + 6])
        if start == 0:  # each holds its first batch before either goes on: both work, however slow one started
            print("claimed", flush=True)
            sys.stdin.readline()
        time.sleep(0.003)  # the HTTP call
        sent += [o.idempotency_key for o in mine]
        mark_all_sent(con, [(o, "r-" + o.canonical_id) for o in mine])
print(json.dumps(sent))
"""


def test_two_workers_claiming_from_one_outbox_send_every_op_once(tmp_path, pg_dsn, monkeypatch):
    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)
    project = Project(tmp_path)
    store = project.store_path(POSTGRES + DEFAULT_DSN_ENV)
    with open_store(store) as con:
        ensure(con, {})
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), f"run-{n}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=cli_env(**{DEFAULT_DSN_ENV: pg_dsn})) for n in (1, 2)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n", p.stderr.read() if p.stderr else ""

    def tell_both():
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()

    tell_both()  # both plan and claim a first batch at once
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "claimed\n", p.stderr.read() if p.stderr else ""
    tell_both()  # and go on once both hold one, however slow one was to start
    outs = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    first, second = (json.loads(out) for out, _ in outs)
    assert not set(first) & set(second)  # no op sent by both
    assert sorted(first + second) == sorted(f"k{i}" for i in range(OPS))  # and none left out
    assert first and second, (len(first), len(second))  # both really worked on the outbox
    with open_store(store, read_only=True) as con:
        rows = con.execute("SELECT status, attempts, count(*) FROM sync.outbox GROUP BY status, attempts").fetchall()
    assert rows == [("sent", 1, OPS)]


def test_duckdb_keeps_its_single_writer_claim(tmp_path):
    from tests.integration.postgres.test_outbox_claim import _ops

    with open_store(tmp_path / "crmsync.duckdb") as con:
        ensure(con, {})
        ops = enqueue(con, "run-1", "amo", "contact", _ops(5))
        assert claim(con, ops) == ops
        assert con.execute("SELECT DISTINCT status, attempts FROM sync.outbox").fetchall() == [("sending", 1)]


def _ops(n):
    from crmsync.push.outbox import Op

    return [Op(kind="create", entity="contact", connection="amo", canonical_id=f"c{i}", remote_id=None,
               fields=["name"], values={"name": f"n{i}"}, payload={"name": f"n{i}"}, idempotency_key=f"k{i}")
            for i in range(n)]
