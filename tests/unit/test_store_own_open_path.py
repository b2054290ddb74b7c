"""Code that only peeks at the store (the spec check's stored connections, a dry run's "can I write?")
opens it the store's own way (crmsync.store.open_store): beside a read round this process keeps, and
while that round is written out in the background, it reads the store instead of taking this process's
own connection for another process's lock."""

import threading
import time

import duckdb
import pytest

import crmsync.store as store
from crmsync.dry_copy import cannot_write
from crmsync.project import Project
from crmsync.specs.project_specs import _stored_connection_crms
from crmsync.store import keeping, open_store


@pytest.fixture
def project(tmp_path):
    project = Project(tmp_path)
    with open_store(project.store_path()) as con:
        con.execute("CREATE TABLE sync.connections (name VARCHAR, crm VARCHAR)")
        con.execute("INSERT INTO sync.connections VALUES ('amo', 'amocrm')")
    return project


def _elsewhere(fn):
    """``fn()`` on another thread of this process (a server thread, the scheduler), its result."""
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join(timeout=60)
    return out[0]


def test_the_stored_connections_are_read_while_a_read_round_keeps_the_store(project):
    with keeping(project.store_path()) as kept:
        kept.join()  # the round's connection, read-write
        assert _stored_connection_crms(project) == {"amo": "amocrm"}
        assert _elsewhere(lambda: _stored_connection_crms(project)) == {"amo": "amocrm"}


def test_the_stored_connections_are_read_after_the_round_is_written_out(project, monkeypatch):
    real = store._memory_cap

    def slow_disk(con):  # the round's write-out takes a moment, its connection open meanwhile
        time.sleep(0.5)
        return real(con)

    monkeypatch.setattr(store, "_memory_cap", slow_disk)
    with keeping(project.store_path()) as kept:
        kept.join().execute("CREATE TABLE sync.t AS SELECT 1 AS x")
    assert _stored_connection_crms(project) == {"amo": "amocrm"}


def test_a_dry_run_can_write_beside_its_own_round_but_not_beside_its_own_reader(project):
    path = project.store_path()
    with keeping(path) as kept:
        kept.join()
        assert not _elsewhere(lambda: cannot_write(path))
    store.settled(path)
    reader = duckdb.connect(str(path), read_only=True)  # e.g. a status page of this process, open right now
    try:
        assert cannot_write(path)  # it cannot be written now: the dry run works on a copy
    finally:
        reader.close()
    assert not cannot_write(path)
