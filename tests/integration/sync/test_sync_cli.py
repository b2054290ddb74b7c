"""``crmsync sync`` and ``crmsync conflicts`` end to end: the real CLI, a fake CRM over HTTP, a DuckDB file.

The same field is changed locally (SQL) and in the CRM (its API), then one sync runs: each policy
of the pipeline's ``conflicts:`` block must pick its side, push what it picked, record the clash,
and a second sync must send nothing.
"""

import json

import pytest
import requests
import yaml

from tests.integration.push.test_push_cli import sql
from tests.integration.test_pull_cli import run, run_here
from tests.store_plugin import both_stores, use_store

AMO = {"Authorization": "Bearer demo-token"}


@pytest.fixture
def project(tmp_path, store):
    run_here(tmp_path, "init", str(tmp_path / "p"))
    use_store(tmp_path / "p", store)
    return tmp_path / "p"


def set_policy(project, crm, default, fields=None):
    path = project / "pipelines" / f"{crm}.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["conflicts"] = {"default": default, "clock_skew_seconds": 5, "fields": fields or {}}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")


def sync(project, crm, *extra, code=0):
    """``crmsync sync CRM --json`` in this process; ``code`` 5: the run holds fields in manual conflicts."""
    from click.testing import CliRunner

    from crmsync.cli import cli

    r = CliRunner().invoke(cli, ["sync", crm, "--json", *extra, "--project-dir", str(project)],
                           catch_exceptions=False)
    assert r.exit_code == code, r.output
    result = json.loads(r.stdout)
    assert result["exit_code"] == code and (result["status"] == "issues") is (code == 5)
    return result


def sent(result):
    return sum(c[k] for c in result["entities"].values() for k in ("created", "updated", "deleted"))


class Amo:
    """The fake AmoCRM seen through its API: one contact's position and names."""

    def __init__(self, server):
        self.server = server

    def set_position(self, remote_id, value):
        requests.patch(self.server.url + "/api/v4/contacts", headers=AMO, timeout=10, json=[
            {"id": int(remote_id), "custom_fields_values": [{"field_code": "POSITION", "values": [{"value": value}]}]},
        ]).raise_for_status()

    def contact(self, remote_id):
        return requests.get(f"{self.server.url}/api/v4/contacts/{remote_id}", headers=AMO, timeout=10).json()

    def position(self, remote_id):
        for f in self.contact(remote_id).get("custom_fields_values") or []:
            if f.get("field_code") == "POSITION":
                return f["values"][0]["value"]
        return None

    def writes(self):
        return sum(n for route, n in self.server.stats.by_route.items()
                   if route.split()[0] in ("POST", "PATCH") and "/api/v4/" in route)


@pytest.fixture
def amo(project, fake_crm):
    server = fake_crm("amocrm", contacts=8, deals=3, tasks=3, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    return Amo(server)


def first_contact(project):
    return sql(project, "SELECT l.canonical_id, l.remote_id FROM sync.links l WHERE l.entity = 'contact' "
                        "AND l.connection = 'amocrm' AND l.base IS NOT NULL ORDER BY l.remote_id LIMIT 1")[0]


def canonical_position(project, cid):
    return sql(project, "SELECT position FROM canonical.contacts WHERE id = ?", [cid])[0][0]


def clash(project, amo, *, stamp=False):
    """Local edit and CRM edit of one contact's position; ``stamp``: the local edit sets updated_at."""
    cid, remote_id = first_contact(project)
    sql(project, "UPDATE canonical.contacts SET position = 'Local'" + (", updated_at = now()" if stamp else "")
        + " WHERE id = ?", [cid])
    amo.set_position(remote_id, "CRM")
    return cid, remote_id


def conflicts(project):
    return sql(project, "SELECT field, json_extract_string(\"local\", '$'), json_extract_string(crm, '$'), policy, "
                        "status, resolution FROM sync.conflicts ORDER BY created_at")


@pytest.mark.parametrize(("policy", "stamp", "clock", "winner"), [
    ("local_wins", False, 0, "Local"),     # crm_wins and manual: below, and on Bitrix24
    ("newest_wins", True, -3600, "Local"),   # the CRM's change is an hour old, the local edit is stamped now
    ("newest_wins", True, 0, "CRM"),         # the CRM's change is the later one
    ("newest_wins", False, -3600, "CRM"),    # an unstamped local edit has no time: the CRM wins
])
def test_a_field_changed_on_both_sides_follows_the_policy(project, amo, policy, stamp, clock, winner):
    set_policy(project, "amocrm", policy)
    first = sync(project, "amocrm")
    assert first["entities"]["contact"]["applied"] == 8 and sent(first) == 0
    if clock:
        requests.post(amo.server.url + "/_fake/clock", json={"advance": clock}, timeout=10).raise_for_status()
    cid, remote_id = clash(project, amo, stamp=stamp)
    if not clock and stamp:  # make the CRM's change clearly later than the stamped local edit
        requests.post(amo.server.url + "/_fake/clock", json={"advance": 60}, timeout=10).raise_for_status()
        amo.set_position(remote_id, "CRM")

    result = sync(project, "amocrm")
    assert result["entities"]["contact"]["conflicts"] == 1
    assert canonical_position(project, cid) == winner
    assert amo.position(remote_id) == winner
    assert result["entities"]["contact"]["updated"] == (1 if winner == "Local" else 0)
    assert conflicts(project) == [("position", "Local", "CRM", policy, "resolved", winner.lower())]

    writes = amo.writes()
    again = sync(project, "amocrm")
    assert sent(again) == 0 and amo.writes() == writes
    assert again["entities"]["contact"]["applied"] == 0 and again["entities"]["contact"]["conflicts"] == 0


@both_stores
def test_different_fields_changed_on_each_side_merge_both_ways(project, amo):
    set_policy(project, "amocrm", "crm_wins")
    sync(project, "amocrm")
    cid, remote_id = first_contact(project)
    sql(project, "UPDATE canonical.contacts SET last_name = 'Локальная' WHERE id = ?", [cid])
    amo.set_position(remote_id, "CRM")
    amo.server.stats.reset()
    result = sync(project, "amocrm")
    assert result["entities"]["contact"]["conflicts"] == 0 and result["entities"]["contact"]["updated"] == 1
    metadata = {route: n for route, n in amo.server.stats.by_route.items()
                if route.endswith(("/custom_fields", "/pipelines", "/users", "/companies"))}
    assert metadata and set(metadata.values()) == {1}  # the push writes with what the pull fetched
    assert sql(project, "SELECT last_name, position FROM canonical.contacts WHERE id = ?", [cid]) == [
        ("Локальная", "CRM")]
    remote = amo.contact(remote_id)
    assert remote["last_name"] == "Локальная" and amo.position(remote_id) == "CRM"
    assert sent(sync(project, "amocrm")) == 0


@both_stores
def test_a_manual_conflict_waits_is_held_back_and_is_resolved_by_the_cli(project, amo):
    set_policy(project, "amocrm", "crm_wins", {"contact.position": "manual"})
    sync(project, "amocrm")
    cid, remote_id = clash(project, amo)

    result = sync(project, "amocrm", code=5)
    contact = result["entities"]["contact"]
    assert contact["conflicts"] == 1 and contact["held"] == 1 and contact["updated"] == 0
    assert canonical_position(project, cid) == "Local" and amo.position(remote_id) == "CRM"
    listed = json.loads(run_here(project, "conflicts", "list", "--json"))
    assert listed["pending"] == 1
    (pending,) = listed["conflicts"]
    assert (pending["field"], pending["local"], pending["crm"], pending["status"]) == ("position", "Local", "CRM",
                                                                                       "pending")
    shown = run_here(project, "conflicts", "list")
    assert pending["conflict_id"] in shown and "contact.position" in shown

    again = sync(project, "amocrm", code=5)  # still waiting: nothing is sent, nothing is overwritten
    assert sent(again) == 0 and again["entities"]["contact"]["held"] == 1 and amo.position(remote_id) == "CRM"

    bad = run(project, "conflicts", "resolve", pending["conflict_id"], ok=False)
    assert bad.returncode == 2 and "--take crm, --take local, or --value JSON" in bad.stderr
    missing = run(project, "conflicts", "resolve", "nope", "--take", "local", ok=False)
    assert missing.returncode == 2 and "no pending conflict nope" in missing.stderr

    run_here(project, "conflicts", "resolve", pending["conflict_id"], "--take", "local")
    assert canonical_position(project, cid) == "Local"
    done = sync(project, "amocrm")
    assert done["entities"]["contact"]["updated"] == 1 and amo.position(remote_id) == "Local"
    assert sent(sync(project, "amocrm")) == 0
    assert json.loads(run_here(project, "conflicts", "list", "--json"))["pending"] == 0
    assert sql(project, "SELECT status, resolution, resolved_by FROM sync.conflicts") == [("resolved", "local", "cli")]


@both_stores
def test_a_manual_conflict_resolved_by_sql_and_a_typed_value(project, amo):
    set_policy(project, "amocrm", "manual")
    sync(project, "amocrm")
    cid, remote_id = clash(project, amo)
    sync(project, "amocrm", code=5)
    sql(project, "UPDATE sync.conflicts SET take = 'crm' WHERE status = 'pending'")
    result = sync(project, "amocrm")  # the SQL decision is carried out by the next run
    assert sent(result) == 0 and canonical_position(project, cid) == "CRM"
    assert sql(project, "SELECT status, resolution, resolved_by FROM sync.conflicts") == [("resolved", "crm", "sql")]

    sql(project, "UPDATE canonical.contacts SET position = 'Local again' WHERE id = ?", [cid])
    amo.set_position(remote_id, "CRM again")
    sync(project, "amocrm", code=5)
    (conflict_id,) = sql(project, "SELECT conflict_id FROM sync.conflicts WHERE status = 'pending'")[0]
    bad = run(project, "conflicts", "resolve", conflict_id, "--value", "42", ok=False)
    assert bad.returncode == 2 and "is not a valid contact.position" in bad.stderr
    run_here(project, "conflicts", "resolve", "--all", "--entity", "contact", "--value", '"Chosen"')
    assert sync(project, "amocrm")["entities"]["contact"]["updated"] == 1
    assert amo.position(remote_id) == "Chosen" and canonical_position(project, cid) == "Chosen"


@both_stores
def test_sync_dry_run_shows_the_plan_and_changes_nothing(project, amo):
    set_policy(project, "amocrm", "local_wins")
    sync(project, "amocrm")
    cid, remote_id = clash(project, amo)
    versions = sql(project, "SELECT id, version, position FROM canonical.contacts ORDER BY id")

    shown = run_here(project, "sync", "amocrm", "--dry-run")
    assert "would sync" in shown and f"update {cid}" in shown and '"position": "Local"' in shown
    planned = sync(project, "amocrm", "--dry-run")
    assert planned["dry_run"] and planned["entities"]["contact"]["updated"] == 1
    assert planned["entities"]["contact"]["conflicts"] == 1
    assert sql(project, "SELECT id, version, position FROM canonical.contacts ORDER BY id") == versions
    assert sql(project, "SELECT count(*) FROM sync.conflicts") == [(0,)]
    assert amo.position(remote_id) == "CRM"

    result = sync(project, "amocrm")  # the real run does what the dry run showed
    assert result["entities"]["contact"]["updated"] == 1 and amo.position(remote_id) == "Local"


def test_a_second_run_of_the_same_connection_waits_its_turn(project, amo):
    from filelock import FileLock

    lock = FileLock(str(project / ".crmsync" / "locks" / "run-amocrm.lock"))
    (project / ".crmsync" / "locks").mkdir(parents=True, exist_ok=True)
    with lock:
        busy = run(project, "sync", "amocrm", ok=False)
    assert busy.returncode == 4 and "another crmsync run of connection 'amocrm' is in progress" in busy.stderr
    assert "Traceback" not in busy.stderr
    assert sync(project, "amocrm")["entities"]["contact"]["applied"] == 8


class B24:
    """The fake Bitrix24 seen through its webhook: one contact's position (POST)."""

    def __init__(self, server):
        self.server, self.base = server, server.url + "/rest/1/demo/"

    def set_position(self, remote_id, value):
        requests.post(self.base + "crm.contact.update", json={"id": remote_id, "fields": {"POST": value}},
                      timeout=10).raise_for_status()

    def position(self, remote_id):
        return requests.post(self.base + "crm.contact.get", json={"id": remote_id}, timeout=10).json()["result"]["POST"]


@pytest.mark.parametrize(("policy", "winner"), [("local_wins", "Local"), ("crm_wins", "CRM"), ("manual", None)])
def test_bitrix24_clashes_follow_the_policy_too(project, fake_crm, policy, winner):
    server = fake_crm("bitrix24", contacts=8, deals=3, tasks=3, rate_limit=False)
    b24 = B24(server)
    run_here(project, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", b24.base)
    set_policy(project, "bitrix24", policy)
    sync(project, "bitrix24")
    cid, remote_id = sql(project, "SELECT canonical_id, remote_id FROM sync.links WHERE entity = 'contact' "
                                  "AND base IS NOT NULL ORDER BY remote_id LIMIT 1")[0]
    sql(project, "UPDATE canonical.contacts SET position = 'Local' WHERE id = ?", [cid])
    b24.set_position(remote_id, "CRM")

    result = sync(project, "bitrix24", code=5 if winner is None else 0)["entities"]["contact"]
    assert result["conflicts"] == 1
    if winner is None:  # manual: the local value stays here, the CRM keeps its own, the field is held
        assert result["held"] == 1 and canonical_position(project, cid) == "Local" and b24.position(remote_id) == "CRM"
        (conflict_id,) = sql(project, "SELECT conflict_id FROM sync.conflicts WHERE status = 'pending'")[0]
        run_here(project, "conflicts", "resolve", conflict_id, "--take", "crm")
        winner = "CRM"
    assert canonical_position(project, cid) == winner and b24.position(remote_id) == winner
    assert sent(sync(project, "bitrix24")) == 0
