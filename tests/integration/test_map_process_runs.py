"""A pull and a remap that map in mapping processes (``CRMSYNC_MAP_PROCESS=on``, :mod:`crmsync.map_process`)
write exactly what the same runs mapping in their own process write: canonical rows, links and their
bases, history, records set aside. The real CLI, a real DuckDB file, a fake AmoCRM on loopback, enough
contacts for several chunks (2,000 a chunk), some of them set aside by the changed mapping."""

import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.integration.test_pull_cli import run, run_here
from tests.integration.test_remap import change_mapping

CONTACTS = 4500


def query(project: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(project / "crmsync.duckdb"), read_only=True)
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    finally:
        con.close()


def by_remote_id(project: Path) -> list[tuple]:
    """Every canonical contact with its link, keyed by the CRM's id (canonical ids are minted at random)."""
    return query(project, "SELECT l.remote_id, l.base, l.base_hash, c.* EXCLUDE (id) FROM canonical.contacts c "
                          "JOIN sync.links l ON l.canonical_id = c.id AND l.entity = 'contact'")


def remap_writes(project: Path, run_id: str) -> dict[str, list[tuple]]:
    return {
        "contacts": query(project, "SELECT * FROM canonical.contacts"),
        "links": query(project, "SELECT remote_id, canonical_id, base, base_hash FROM sync.links"),
        "changes": query(project, "SELECT canonical_id, field, old, new, side, edited_at FROM sync.changes "
                                  f"WHERE run_id = '{run_id}'"),
        "rejected": query(project, "SELECT remote_id, field, reason, direction, raw FROM sync.rejected "
                                   f"WHERE run_id = '{run_id}'"),
    }


def last_run(project: Path, kind: str) -> tuple[str, dict]:
    ((run_id, counts),) = query(project, f"SELECT run_id, counts FROM sync.runs WHERE kind = '{kind}' "
                                         "ORDER BY started_at DESC LIMIT 1")
    return run_id, json.loads(counts)


def pull(project: Path, setting: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, str]:
    monkeypatch.setenv("CRMSYNC_MAP_PROCESS", setting)
    said = run(project, "pull", "amocrm", "--entity", "contact").stderr  # the progress lines
    return last_run(project, "pull")[1], said


def remap(project: Path, setting: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict, str]:
    monkeypatch.setenv("CRMSYNC_MAP_PROCESS", setting)
    said = run(project, "remap", "amocrm", "--entity", "contact", "--no-strict").stderr
    return (*last_run(project, "remap"), said)


def test_runs_mapping_in_processes_write_what_runs_mapping_here_write(tmp_path, fake_crm, monkeypatch):
    amo = fake_crm("amocrm", contacts=CONTACTS, deals=0, tasks=0, rate_limit=False)
    here, there = tmp_path / "here", tmp_path / "there"
    for project in (here, there):
        run_here(tmp_path, "init", str(project))
        run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
                 "--long-lived-token", "demo-token")

    pulled_here, said_here = pull(here, "off", monkeypatch)
    pulled_there, said_there = pull(there, "on", monkeypatch)
    assert "mapping in" not in said_here and "mapping in" in said_there, said_there
    assert "mapping process failed" not in said_there  # mapped there, not here after a failed start
    assert pulled_here == pulled_there and pulled_there["contact"]["read"] == CONTACTS
    assert by_remote_id(here) == by_remote_id(there)

    # the same store twice, the same mapping change: one remap maps here, one in mapping processes
    shutil.rmtree(there)
    shutil.copytree(here, there)
    for project in (here, there):
        change_mapping(project)
    remap_id_here, counts_here, said_here = remap(here, "off", monkeypatch)
    remap_id_there, counts_there, said_there = remap(there, "on", monkeypatch)
    assert "mapping in" in said_there and "mapping in" not in said_here and "mapping process failed" not in said_there
    counts = counts_there["contact"]
    assert counts == counts_here["contact"]
    assert counts["read"] == CONTACTS and counts["applied"] > 2000 and counts["rejected"] > 0  # both kinds, chunks
    writes = remap_writes(there, remap_id_there)
    assert writes == remap_writes(here, remap_id_here)
    assert len(writes["rejected"]) == counts["rejected"] and len(writes["changes"]) == counts["applied"]


def _children() -> list[str]:
    mine = str(os.getpid())
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == mine:
                found.append(pid)
        except (OSError, IndexError):
            pass
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
def test_a_run_in_this_process_ends_its_mapping_processes(project, amo, monkeypatch):
    """``crmsync serve`` runs pulls and remaps in its own process: each run ends and reaps its mapping
    processes (a process left running, or a zombie left unreaped, is still our child)."""
    monkeypatch.setenv("CRMSYNC_MAP_PROCESS", "on")
    before = _children()
    run_here(project, "pull", "amocrm", "--entity", "contact")
    change_mapping(project)
    run_here(project, "remap", "amocrm", "--entity", "contact", "--no-strict")
    assert _children() == before


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_postgres_store_maps_in_processes_as_duckdb_maps_here(tmp_path, fake_crm, store, monkeypatch):
    """A Postgres store hands its raw rows over as rows (the Arrow pages are DuckDB's): a pull and a remap
    there in mapping processes count what a DuckDB store's mapping here counts, record for record."""
    from tests.store_plugin import use_store

    amo = fake_crm("amocrm", contacts=2500, deals=0, tasks=0, rate_limit=False)
    duck, pg = tmp_path / "duck", tmp_path / "pg"
    for project in (duck, pg):
        run_here(tmp_path, "init", str(project))
        if project == pg:
            use_store(pg, store)  # before connecting: the connection is kept in the store
        run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
                 "--long-lived-token", "demo-token")
    pulled_duck, _ = pull(duck, "off", monkeypatch)
    monkeypatch.setenv("CRMSYNC_MAP_PROCESS", "on")
    said = run(pg, "pull", "amocrm", "--entity", "contact").stderr
    assert "mapping in" in said and "mapping process failed" not in said, said
    [(counts,)] = store.rows(pg, "SELECT counts FROM sync.runs WHERE kind = 'pull'")
    assert json.loads(counts) == pulled_duck and pulled_duck["contact"]["read"] == 2500
    assert sorted(r for (r,) in store.rows(pg, "SELECT remote_id FROM sync.links WHERE entity = 'contact'")) == \
        sorted(r for (r,) in query(duck, "SELECT remote_id FROM sync.links WHERE entity = 'contact'"))

    for project in (duck, pg):
        change_mapping(project)
    _, remapped_duck, _ = remap(duck, "off", monkeypatch)
    monkeypatch.setenv("CRMSYNC_MAP_PROCESS", "on")
    said = run(pg, "remap", "amocrm", "--entity", "contact", "--no-strict").stderr
    assert "mapping in" in said and "mapping process failed" not in said, said
    [(counts,)] = store.rows(pg, "SELECT counts FROM sync.runs WHERE kind = 'remap'")
    assert json.loads(counts) == remapped_duck and remapped_duck["contact"]["rejected"] > 0
    rejected = "SELECT remote_id, field, reason FROM sync.rejected WHERE direction = 'pull'"
    assert sorted(store.rows(pg, rejected), key=repr) == query(duck, rejected)
