"""A connection is bound to one CRM account: the real CLI, fake CRMs on loopback, a DuckDB file.

A replace that reaches another account (or another CRM) is refused; ``--new-account`` detaches the
old account's links so the next sync writes nothing into the new account's same-numbered records; a
CRM that answers as another account under the same credentials stops the run before it writes.
"""

import json

import pytest
import requests

from crmsync.fakes import make_app
from crmsync.fakes.server import Stats
from tests.integration.push.test_push_cli import sql
from tests.integration.sync.test_sync_cli import AMO
from tests.integration.test_pull_cli import run, run_here

SMALL = dict(contacts=6, deals=2, tasks=2, rate_limit=False)


@pytest.fixture
def project(tmp_path):
    run_here(tmp_path, "init", str(tmp_path / "p"))
    return tmp_path / "p"


def connect_args(crm, server, name=None):
    name = name or crm
    if crm == "amocrm":
        return ["connect", "amocrm", "--name", name, "--base-url", server.url, "--long-lived-token", "demo-token"]
    return ["connect", "bitrix24", "--name", name, "--webhook-url", server.url + "/rest/1/demo/"]


def other_account(crm):
    """Settings of a second account of the same CRM: its own identity and its own (different) people."""
    if crm == "amocrm":
        return dict(account_id=777, subdomain="other", seed=7, **SMALL)
    return dict(seed=7, **SMALL)   # another portal: another host; a webhook carries no portal id


def writes(server):
    """Write calls the fake received (AmoCRM: POST/PATCH/DELETE on /api/v4; Bitrix24: add/update/delete/batch)."""
    out = 0
    for route, n in server.stats.by_route.items():
        method, _, path = route.partition(" ")
        if "/api/v4/" in path and method in ("POST", "PATCH", "DELETE"):
            out += n
        if "/rest/" in path and any(w in path for w in (".add", ".update", ".delete", "batch")):
            out += n
    return out


def records(server, entity):
    return {int(k): v for k, v in server.app.table(entity).rows.items()}


def linked_remote_ids(project, connection):
    return {int(r) for (r,) in sql(project, "SELECT remote_id FROM sync.links WHERE connection = ? "
                                            "AND entity = 'contact'", [connection])}


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_replace_to_another_account_is_refused_and_new_account_detaches_the_links(project, fake_crm, crm):
    first = fake_crm(crm, **SMALL)
    run_here(project, *connect_args(crm, first))
    run_here(project, "sync", crm)
    linked = linked_remote_ids(project, crm)
    assert len(linked) == 6
    # A local edit waiting for the next sync: meant for the first account's record.
    cid, remote = sql(project, "SELECT canonical_id, remote_id FROM sync.links WHERE connection = ? "
                               "AND entity = 'contact' ORDER BY remote_id LIMIT 1", [crm])[0]
    sql(project, "UPDATE canonical.contacts SET position = 'OnlyForTheFirst' WHERE id = ?", [cid])

    second = fake_crm(crm, **other_account(crm))
    before = {rid: json.dumps(row, sort_keys=True, default=str) for rid, row in records(second, "contacts").items()}
    refused = run(project, *connect_args(crm, second), "--replace", ok=False)
    assert refused.returncode == 2, refused.stderr
    assert f"connection '{crm}' is bound to the" in refused.stderr and "--new-account" in refused.stderr
    assert "Nothing was saved" in refused.stderr
    shown = json.loads(run(project, "connections", "show", crm, "--json").stdout)
    assert first.url.split("//")[1] in json.dumps(shown)   # still the first account
    run_here(project, "sync", crm)   # the pending edit goes where it belongs
    assert "OnlyForTheFirst" in json.dumps(records(first, "contacts")[int(remote)])
    assert writes(second) == 0

    sql(project, "UPDATE canonical.contacts SET position = 'LaterEdit' WHERE id = ?", [cid])
    moved = run(project, *connect_args(crm, second), "--replace", "--new-account")
    assert "detached the previous account's 6 links" in moved.stdout or "links" in moved.stdout, moved.stdout
    assert sql(project, "SELECT count(*) FROM sync.links WHERE connection = ?", [crm])[0][0] == 0
    kept = sql(project, "SELECT count(*), count(DISTINCT account) FROM sync.detached_links WHERE connection = ? "
                        "AND entity = 'contact'", [crm])[0]
    assert kept == (6, 1)

    run_here(project, "sync", crm)
    after = records(second, "contacts")
    for rid in linked:   # the new account's records with the numbers the first account's links had
        assert json.dumps(after[rid], sort_keys=True, default=str) == before[rid], rid
    assert "LaterEdit" not in json.dumps([after[r] for r in before])
    assert linked_remote_ids(project, crm) >= set(before)   # the new account was read from the start
    assert "LaterEdit" not in json.dumps(records(first, "contacts"))   # and nothing more went to the first


@pytest.mark.parametrize(("crm", "other"), [("amocrm", "bitrix24"), ("bitrix24", "amocrm")])
def test_replace_with_another_crm_is_refused_and_a_mismatched_pipeline_never_runs(project, fake_crm, crm, other):
    first, second = fake_crm(crm, **SMALL), fake_crm(other, **SMALL)
    run_here(project, *connect_args(crm, first))
    refused = run(project, *connect_args(other, second, name=crm), "--replace", ok=False)
    assert refused.returncode == 2, refused.stderr
    assert f"connection '{crm}' is a {crm} connection; --replace cannot turn it into a {other} one" in refused.stderr
    assert json.loads(run(project, "connections", "show", crm, "--json").stdout)["crm"] == crm

    # Asked for explicitly, the connection now means the other CRM: the pipeline written for the first refuses.
    run(project, *connect_args(other, second, name=crm), "--replace", "--new-account")
    checked = run(project, "validate", ok=False)
    assert checked.returncode == 2
    assert f"pipelines/{crm}.yaml:" in checked.stdout + checked.stderr
    assert f"connection '{crm}' is a {other} connection, but this pipeline has crm: {crm}" in \
        checked.stdout + checked.stderr
    second.stats.reset()
    for command in ("pull", "push", "sync"):
        r = run(project, command, crm, ok=False)
        assert r.returncode == 2, (command, r.stderr)
        assert "spec problem" in r.stderr or f"is a {other} connection" in r.stderr
    assert sum(second.stats.by_route.values()) == 0   # not even a read went to the wrong API


def test_a_pipeline_on_a_connection_of_another_crm_is_refused_at_run_time(project, fake_crm, tmp_path):
    """When validate cannot know (the store was busy), the run itself refuses before any call."""
    from crmsync.connections.binding import ensure_bound
    from crmsync.connections.session import authorized_session
    from crmsync.errors import UserError
    from crmsync.project import Project

    b24 = fake_crm("bitrix24", **SMALL)
    run_here(project, *connect_args("bitrix24", b24, name="b24"))
    session = authorized_session(Project.at(project), "b24")
    b24.stats.reset()
    with pytest.raises(UserError, match="pipeline amocrm has crm: amocrm, but its connection 'b24' is a bitrix24"):
        ensure_bound(session, "amocrm", "amocrm")
    assert sum(b24.stats.by_route.values()) == 0


def test_an_amocrm_answering_as_another_account_stops_the_run_before_it_writes(project, fake_crm):
    first = fake_crm("amocrm", **SMALL)
    run_here(project, *connect_args("amocrm", first))
    run_here(project, "sync", "amocrm")
    cid = sql(project, "SELECT canonical_id FROM sync.links WHERE connection = 'amocrm' AND entity = 'contact' "
                       "LIMIT 1")[0][0]
    sql(project, "UPDATE canonical.contacts SET position = 'NotForTheOther' WHERE id = ?", [cid])
    # The same address and token now reach another account (e.g. the subdomain was given to someone else).
    # The server at that address answers as the other account from now on: swapped in place, because a
    # port let go may be taken by another process before a new server binds it.
    second = first
    second.app, second.stats = make_app("amocrm", token="demo-token", **other_account("amocrm")), Stats()
    for command in ("sync", "push", "pull"):
        r = run(project, command, "amocrm", ok=False)
        assert r.returncode == 2, (command, r.stdout, r.stderr)
        assert "is bound to the AmoCRM / Kommo (API v4) account account_id 30957638, subdomain demo" in r.stderr
        assert "now reaches the account account_id 777, subdomain other" in r.stderr
        assert "stopped before writing anything" in r.stderr and "--new-account" in r.stderr
    assert writes(second) == 0
    assert "NotForTheOther" not in json.dumps(records(second, "contacts"))
    routes = {route.split("?")[0] for route in second.stats.by_route}
    assert routes == {"GET /api/v4/account"}, routes   # the check call, and nothing else
    tested = run(project, "connections", "test", "amocrm", ok=False)
    assert tested.returncode == 2 and "now reaches the account account_id 777" in tested.stderr
    failed = sql(project, "SELECT kind, error FROM sync.runs WHERE status = 'failed' ORDER BY started_at")
    assert [k for k, _ in failed] == ["sync", "push", "pull"] and all("now reaches" in e for _, e in failed)


def test_a_bitrix24_token_refresh_that_names_another_portal_stops_the_run(project, fake_crm):
    from tests.integration.connections.helpers import cli_oauth_connect

    server = fake_crm("bitrix24", access_token_ttl=30, **SMALL)   # < 60 s: every run refreshes first
    from crmsync.project import Project
    code, _, err = cli_oauth_connect(Project.at(project), "bitrix24", server, "bitrix24")
    assert code == 0, err
    run_here(project, "sync", "bitrix24")
    bound = json.loads(run(project, "connections", "show", "bitrix24", "--json").stdout)["settings"]["identity"]
    assert bound["member_id"] == server.app.config.member_id
    server.app.config.member_id = "0" * 32   # the app's tokens now speak for another portal
    server.stats.reset()
    r = run(project, "sync", "bitrix24", ok=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"member_id {bound['member_id']}" in r.stderr and f"member_id {'0' * 32}" in r.stderr
    assert writes(server) == 0
    shown = json.loads(run(project, "connections", "show", "bitrix24", "--json").stdout)
    assert shown["status"] == "needs re-authorisation"


def test_a_connection_made_before_binding_is_bound_by_its_next_run(project, fake_crm):
    amo = fake_crm("amocrm", **SMALL)
    run_here(project, *connect_args("amocrm", amo))
    settings = sql(project, "SELECT settings FROM sync.connections WHERE name = 'amocrm'")[0][0]
    old = {k: v for k, v in json.loads(settings).items() if k not in ("identity", "bound_at")}
    sql(project, "UPDATE sync.connections SET settings = ? WHERE name = 'amocrm'", [json.dumps(old)])
    run_here(project, "pull", "amocrm")
    shown = json.loads(run(project, "connections", "show", "amocrm", "--json").stdout)
    assert shown["settings"]["identity"] == {"account_id": "30957638", "subdomain": "demo"}
    r = requests.get(amo.url + "/api/v4/account", headers=AMO, timeout=10).json()
    assert str(r["id"]) == shown["settings"]["identity"]["account_id"]
