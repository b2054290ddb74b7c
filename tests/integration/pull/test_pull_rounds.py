"""With ``CRMSYNC_APPLY_BEHIND=on`` a long pull applies each read round on a thread of its own while
the next round reads (crmsync.read.behind): the same canonical store as one round applied at the end, and a run whose
apply fails is finished by the next."""

import shutil
import threading

import pytest

from crmsync.project import Project, builtin_project_dir
from tests.integration.fake_sessions import store_rows as query
from tests.integration.pull.test_pull_connection import canonical_snapshot, puller


def _project(root):
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, root / folder)
    return Project(root)


@pytest.fixture
def two_projects(tmp_path):
    return _project(tmp_path / "one-round"), _project(tmp_path / "rounds")


def test_rounds_applied_behind_the_read_give_what_one_round_gives(two_projects, fake_crm, monkeypatch):
    one_round, rounds = two_projects
    server = fake_crm("amocrm", contacts=900, deals=300, tasks=200, rate_limit=False)
    whole = puller(one_round, "amocrm", server)()
    assert whole.rounds == 1

    monkeypatch.setenv("CRMSYNC_READ_ROUND_RECORDS", "200")  # a page of 250 a round: 4 rounds of contacts
    monkeypatch.setenv("CRMSYNC_APPLY_BEHIND", "on")
    threads = []
    result = puller(rounds, "amocrm", server)(chunk_size=100,
                                              on_chunk=lambda entity: threads.append(threading.current_thread().name))
    assert result.rounds >= 4
    assert "crmsync-apply" in threads and threading.current_thread().name not in threads  # applied behind the read
    assert {e: (c["read"], c["applied"], c["rejected"]) for e, c in result.entities.items()} == \
        {e: (c["read"], c["applied"], c["rejected"]) for e, c in whole.entities.items()}
    assert canonical_snapshot(rounds) == canonical_snapshot(one_round)
    assert query(rounds, "SELECT count(*), count(DISTINCT remote_id) FROM sync.links WHERE entity = 'contact'") == \
        [(900, 900)]


def test_an_apply_that_fails_stops_the_read_and_the_next_run_finishes_it(two_projects, fake_crm, monkeypatch):
    clean, killed = two_projects
    server = fake_crm("amocrm", contacts=900, deals=300, tasks=200, rate_limit=False)
    puller(clean, "amocrm", server)()

    monkeypatch.setenv("CRMSYNC_READ_ROUND_RECORDS", "200")
    monkeypatch.setenv("CRMSYNC_APPLY_BEHIND", "on")
    applied = []

    def dies_in_the_first_round(entity):
        applied.append(entity)
        raise RuntimeError("killed")

    pull = puller(killed, "amocrm", server)
    with pytest.raises(RuntimeError, match="killed"):
        pull(chunk_size=100, on_chunk=dies_in_the_first_round)
    assert applied == ["contact"]  # the first round's first chunk, then the run stopped
    raw = query(killed, "SELECT count(*) FROM raw_amocrm.contact")[0][0]
    assert 250 <= raw < 900  # the round read beside the failed apply is loaded; the read stopped after it
    assert query(killed, "SELECT count(*) FROM sync.runs") == [(0,)]
    after = pull()
    assert after.status == "ok"
    assert canonical_snapshot(killed) == canonical_snapshot(clean)
    assert query(killed, "SELECT count(*), count(DISTINCT canonical_id) FROM sync.links WHERE entity = 'contact'") == \
        [(900, 900)]
    assert all(c["applied"] == 0 for c in pull().entities.values())


def test_the_setting_is_checked(monkeypatch):
    from crmsync.errors import UserError
    from crmsync.read.behind import apply_behind

    monkeypatch.setenv("CRMSYNC_APPLY_BEHIND", "yes")
    with pytest.raises(UserError, match="not one of: on, off"):
        apply_behind()
    monkeypatch.setenv("CRMSYNC_APPLY_BEHIND", "ON")
    assert apply_behind()
    monkeypatch.delenv("CRMSYNC_APPLY_BEHIND")
    assert not apply_behind()
