"""A connection's pacing state is carried to the next process through the project's state folder
(:func:`crmsync.connections.session.shared_pacer`), and never recreates a project that is gone."""

import shutil

import pytest

from crmsync.connections import session
from crmsync.project import Project

LIMIT = {"type": "requests_per_second", "requests": 7}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setattr(session, "_PACERS", {})  # as in a new process
    monkeypatch.setattr(session.atexit, "register", lambda *a: None)  # saved by the test, not at its exit
    root = tmp_path / "project"
    (root / "connectors").mkdir(parents=True)
    return Project.at(root)


def _sent(pacer, n):
    for _ in range(n):
        pacer.acquire()
        pacer.done()


def test_the_next_process_goes_on_where_the_last_one_stopped(project, monkeypatch):
    pacer = session.shared_pacer(project, "amocrm", LIMIT)
    _sent(pacer, 3)
    path = project.state_dir / "pacing" / "amocrm.json"
    session._save_pacer(path, pacer)
    assert path.is_file()

    monkeypatch.setattr(session, "_PACERS", {})
    after = session.shared_pacer(project, "amocrm", LIMIT)
    assert after is not pacer and len(after.snapshot()["sent"]) == 3  # its three requests still count


def test_a_project_removed_before_the_process_ends_is_not_made_again(project):
    pacer = session.shared_pacer(project, "amocrm", LIMIT)
    _sent(pacer, 1)
    shutil.rmtree(project.root)

    session._save_pacer(project.state_dir / "pacing" / "amocrm.json", pacer)

    assert not project.root.exists()  # a benchmark's or test's temporary project stays removed
