"""One tenant never reads, writes, resolves or learns of another's records or connections, by any route,
by guessed ids, or through conflicts and status."""

import duckdb
import requests

from tests.integration.appsync.harness import changes_of, token


def rows(server, tenant, sql):
    path = server.tenant_dir(tenant) / "crmsync.duckdb"
    with duckdb.connect(str(path)) as con:
        return con.execute(sql).fetchall()


def test_every_route_keeps_tenants_apart(app_server, fake_crm):
    server = app_server(conflicts={"default": "manual"})
    amo = fake_crm("amocrm", contacts=6, deals=0, tasks=0, rate_limit=False)
    server.connect("acme", amo)
    server.sync("acme")
    acme = server.pull("acme")
    acme_ids = [r["id"] for r in changes_of(acme)["created"]]
    # a pending conflict of acme's (manual policy)
    server.sql("acme", "UPDATE canonical.contacts SET position = 'acme server' WHERE id = ?", acme_ids[0])
    server.push("acme", {"contacts": {"created": [], "updated": [{**changes_of(acme)["created"][0],
                                                                   "position": "acme app", "_changed": "position"}],
                                      "deleted": []}}, acme["timestamp"])
    before = rows(server, "acme", "SELECT id, position, version, deleted_at FROM canonical.contacts ORDER BY id")

    # pulls: nothing of acme's, whatever last_pulled_at says
    for since in (None, 0, 1):
        answer = server.pull("globex", since)
        assert all(v == {"created": [], "updated": [], "deleted": []} for v in answer["changes"].values()), since
    # a push naming acme's ids (guessed or leaked) writes only in globex's own store
    guessed = {"contacts": {"created": [{"id": acme_ids[1], "first_name": "Mallory"}],
                            "updated": [{"id": acme_ids[2], "first_name": "Mallory", "_changed": "first_name"}],
                            "deleted": [acme_ids[3], acme_ids[0]]}}
    answer = server.push("globex", guessed, 0)
    assert answer["conflicts"] == []  # nothing of acme's pending conflict shows
    after = rows(server, "acme", "SELECT id, position, version, deleted_at FROM canonical.contacts ORDER BY id")
    assert after == before
    assert sorted(r[0] for r in rows(server, "globex", "SELECT id FROM canonical.contacts")) == \
        sorted([acme_ids[1], acme_ids[2]])  # globex's own new records, in its own store
    # status, connections: nothing of acme's
    status = server.ok("GET", "/api/sync/status", "globex")
    assert status["connections"] == [] and status["pipelines"] == [] and status["runs"] == []
    assert status["conflicts"]["pending"] == 0 and status["conflicts"]["conflicts"] == []
    assert server.ok("GET", "/api/sync/status", "acme")["conflicts"]["pending"] == 1
    assert server.ok("GET", "/api/sync/connection", "globex") == {"connections": []}
    deleted = server.call("DELETE", "/api/sync/connection/amocrm", "globex")
    assert deleted.status_code == 404, deleted.text
    assert "amocrm" not in deleted.text.split("known:")[-1] if "known:" in deleted.text else True
    assert [c["name"] for c in server.ok("GET", "/api/sync/connection", "acme")["connections"]] == ["amocrm"]
    # an OAuth link asked for by globex connects globex, never acme
    link = server.call("GET", "/api/sync/connection/auth-url?name=amocrm&crm=amocrm&client_id=demo-client"
                              f"&base_url={amo.url}&authorize_url={amo.url}/oauth", "globex",
                       headers={"X-Client-Secret": "demo-secret"})
    assert link.status_code == 200, link.text
    assert rows(server, "acme", "SELECT count(*) FROM sync.connections") == [(1,)]
    # tenant ids that look like paths stay inside the tenants folder
    for odd in ("../acme", "acme/../../p", "/etc"):
        assert server.call("GET", "/api/sync/initial", bearer=token(odd)).status_code == 200
    folders = list((server.project / ".crmsync" / "tenants").iterdir())
    assert all(f.name.startswith("t-") and len(f.name) == 34 for f in folders)
    # the store files are separate
    assert server.tenant_dir("acme") != server.tenant_dir("globex")


def test_the_oauth_callback_connects_the_tenant_that_asked(app_server, fake_crm):
    server = app_server()
    amo = fake_crm("amocrm", contacts=2, deals=0, tasks=0, rate_limit=False)
    link = server.ok("GET", "/api/sync/connection/auth-url?name=amocrm&crm=amocrm&client_id=demo-client"
                            f"&base_url={amo.url}&authorize_url={amo.url}/oauth", "globex",
                     headers={"X-Client-Secret": "demo-secret"})
    # the fake CRM's consent page approves at once and redirects to the server's callback
    done = requests.get(link["url"], timeout=30)
    assert done.status_code == 200, done.text
    assert [c["name"] for c in server.ok("GET", "/api/sync/connection", "globex")["connections"]] == ["amocrm"]
    assert server.ok("GET", "/api/sync/connection", "acme")["connections"] == []
