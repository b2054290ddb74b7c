"""No value stops a pull (issue 13, item 3): a number no column keeps, malformed text, an absurd date.

Each bad value is put into a fake CRM through its own write API, next to a good change of another
record. The pull must end normally, set the record aside in ``sync.rejected`` with its remote id,
field and reason, apply the good change, and apply the record once the CRM holds a good value again.
"""

import shutil

import dlt
import pytest
import requests

from crmsync.project import Project, builtin_project_dir
from crmsync.read.held_state import pipeline_name
from crmsync.read.run import dataset_name
from crmsync.read.storable import VARIANT
from tests.integration.fake_sessions import store_rows as query
from tests.integration.pull.test_pull_connection import puller

AMO = {"Authorization": "Bearer demo-token"}


@pytest.fixture
def project(tmp_path):
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, tmp_path / folder)
    return Project(tmp_path)


class Crm:
    """Writes into one fake CRM as a user of its API would."""

    def __init__(self, crm, server):
        self.crm, self.server = crm, server
        self.rest = server.url + "/rest/1/demo/"

    def ids(self, entity):
        if self.crm == "amocrm":
            path = {"contact": "contacts", "deal": "leads"}[entity]
            rows = requests.get(f"{self.server.url}/api/v4/{path}", headers=AMO, timeout=10).json()
            return [str(r["id"]) for r in rows["_embedded"][path]]
        method = {"contact": "crm.contact.list", "deal": "crm.deal.list"}[entity]
        return [r["ID"] for r in requests.get(self.rest + method, timeout=10).json()["result"]]

    def set(self, entity, remote_id, field, value):
        """``field``: title, price, first_name or budget (the custom number field "Бюджет")."""
        if self.crm == "amocrm":
            path = {"contact": "contacts", "deal": "leads"}[entity]
            item = {"id": int(remote_id)}
            if field == "budget":
                item["custom_fields_values"] = [{"field_id": self._amo_field("Бюджет"), "values": [{"value": value}]}]
            else:
                item[{"title": "name", "price": "price", "first_name": "first_name"}[field]] = value
            response = requests.patch(f"{self.server.url}/api/v4/{path}", headers=AMO, json=[item], timeout=10)
        else:
            name = {"title": "TITLE", "price": "OPPORTUNITY", "first_name": "NAME"}.get(field) or self._uf("Бюджет")
            response = requests.post(self.rest + f"crm.{entity}.update",
                                     json={"id": remote_id, "fields": {name: value}}, timeout=10)
        assert response.status_code == 200, response.text

    def _amo_field(self, name):
        fields = requests.get(self.server.url + "/api/v4/contacts/custom_fields", headers=AMO, timeout=10).json()
        return next(f["id"] for f in fields["_embedded"]["custom_fields"] if f["name"] == name)

    def _uf(self, label):
        fields = requests.get(self.rest + "crm.contact.fields", timeout=10).json()["result"]
        return next(k for k, v in fields.items() if label in (v.get("listLabel"), v.get("formLabel")))


def rejected(project, entity):
    return query(project, "SELECT remote_id, field, reason, direction FROM sync.rejected WHERE entity = ? "
                          "ORDER BY rejected_at", [entity])


def canonical(project, entity, remote_id, column):
    table = {"contact": "contacts", "deal": "deals"}[entity]
    rows = query(project, f"SELECT c.{column} FROM canonical.{table} c JOIN sync.links l ON l.canonical_id = c.id "
                          "WHERE l.entity = ? AND l.remote_id = ?", [entity, remote_id])
    return rows[0][0] if rows else None


CASES = [  # (entity, CRM-side field, the bad value, the canonical field named, a good value, its column)
    ("deal", "price", 10**25, "amount", 1500, "amount"),
    ("contact", "budget", 1e26, "custom.budget", 2500, "custom"),
    # AmoCRM derives the full name from the first name: the first field read that holds it is named
    ("contact", "first_name", "Ив\x01ан", ("name", "first_name"), "Иван", "first_name"),
]


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
@pytest.mark.parametrize(("entity", "field", "bad", "named", "good", "column"), CASES,
                         ids=[c[1] for c in CASES])
def test_a_bad_value_is_set_aside_the_rest_applies_and_the_fix_comes_through(
        project, fake_crm, crm, entity, field, bad, named, good, column):
    server = fake_crm(crm, contacts=6, deals=6, tasks=3, rate_limit=False)
    pull, api = puller(project, crm, server), Crm(crm, server)
    pull()
    victim, other = api.ids(entity)[:2]
    api.set(entity, victim, field, bad)
    api.set("deal", api.ids("deal")[-1], "title", "Хорошая сделка")  # a good change beside it

    result = pull()  # no exception: the run goes on

    assert result.entities[entity]["rejected"] == 1
    [(remote_id, name, reason, direction)] = rejected(project, entity)
    assert (remote_id, direction) == (victim, "pull") and name in (named if isinstance(named, tuple) else (named,))
    assert reason
    assert canonical(project, "deal", api.ids("deal")[-1], "title") == "Хорошая сделка"
    assert pull(full_refresh=True).entities[entity]["rejected"] == 1  # a full refresh works, and judges alike

    api.set(entity, victim, field, good)
    fixed = pull()
    assert fixed.entities[entity]["rejected"] == 0 and fixed.entities[entity]["applied"] == 1
    value = canonical(project, entity, victim, column)
    if column == "custom":
        assert '"budget":2500' in value.replace(" ", "")
    else:
        assert value == good


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_a_pending_load_that_cannot_finish_is_dropped_and_its_records_read_again(project, fake_crm, crm):
    server = fake_crm(crm, contacts=5, deals=5, tasks=2, rate_limit=False)
    pull, api = puller(project, crm, server), Crm(crm, server)
    pull()
    # What a run before this fix left behind: a package dlt extracted but cannot normalise (a float
    # beyond 64 bits in a BIGINT column), retried — and failing — on every run after it.
    pipe = dlt.pipeline(pipeline_name=pipeline_name(crm), pipelines_dir=str(project.dlt_dir),
                        destination="duckdb", dataset_name=dataset_name(crm))
    key = "id" if crm == "amocrm" else "ID"
    bigint = "updated_at" if crm == "amocrm" else "_cursor"
    poison = {key: 999999 if crm == "amocrm" else "999999", bigint: 1e30}
    pipe.extract(dlt.resource([poison], name="contact", write_disposition="merge", primary_key=key,
                              max_table_nesting=0))
    with pytest.raises(Exception, match="64-bit|numerical|cast|Conversion|out of range|too large"):
        pipe.normalize()
    assert list((project.dlt_dir / pipeline_name(crm) / "normalize" / "extracted").glob("*"))
    victim = api.ids("contact")[0]
    api.set("contact", victim, "first_name", "Снова прочитан")

    result = pull()

    assert result.entities["contact"]["applied"] >= 1
    assert canonical(project, "contact", victim, "first_name") == "Снова прочитан"
    assert not list((project.dlt_dir / pipeline_name(crm) / "normalize" / "extracted").glob("*"))
    assert pull().entities["contact"]["applied"] == 0  # and the next run is an ordinary one


def test_text_in_a_number_column_is_read_from_dlt_s_variant_column(project, fake_crm):
    server = fake_crm("amocrm", contacts=3, deals=3, tasks=1, rate_limit=False)
    pull, api = puller(project, "amocrm", server), Crm("amocrm", server)
    pull()
    victim = api.ids("deal")[0]
    api.set("deal", victim, "price", 10**25)
    pull()
    columns = [r[0] for r in query(project, "SELECT column_name FROM information_schema.columns "
                                            "WHERE table_schema = 'raw_amocrm' AND table_name = 'deal'")]
    assert f"price{VARIANT}json" in columns  # the envelope loaded beside the BIGINT column, not as null
    (reason,) = [r[2] for r in rejected(project, "deal")]
    assert "10000000000000000000000000" in reason  # the exact value the CRM sent, not a rounded float


def test_the_cli_sync_ends_normally_and_names_the_record(tmp_path, fake_crm):
    """The issue's repro through the real CLI: a deal price of 1e25 in AmoCRM and an amount of 1e30
    set with SQL. Before: "internal error: InvalidOperation", exit 1, deals and tasks never pushed.
    The typed store refuses 1e30 at UPDATE time; an amount AmoCRM cannot keep (100.5) stands in for it."""
    import json

    import duckdb

    from tests.integration.test_pull_cli import run, run_here

    server = fake_crm("amocrm", contacts=4, deals=4, tasks=2, rate_limit=False)
    run_here(tmp_path, "init", str(tmp_path / "p"))
    project = tmp_path / "p"
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    run_here(project, "sync", "amocrm", "--json")
    api = Crm("amocrm", server)
    victim, local = api.ids("deal")[:2]
    api.set("deal", victim, "price", 10**25)
    con = duckdb.connect(str(project / "crmsync.duckdb"))
    where = "WHERE id = (SELECT canonical_id FROM sync.links WHERE entity = 'deal' AND remote_id = ?)"
    with pytest.raises(duckdb.ConversionException):  # the typed store refuses 1e30 where it is typed
        con.execute(f"UPDATE canonical.deals SET amount = 1e30 {where}", [local])
    con.execute(f"UPDATE canonical.deals SET amount = 100.5 {where}", [local])  # kept, but AmoCRM keeps whole units
    con.close()

    result = run(project, "sync", "amocrm", "--json", ok=False)  # no internal error: done, records set aside
    assert result.returncode == 5, result.stderr  # README: exit codes
    counts = json.loads(result.stdout)["entities"]["deal"]
    assert counts["rejected"] >= 2, counts
    con = duckdb.connect(str(project / "crmsync.duckdb"), read_only=True)
    rows = con.execute("SELECT remote_id, field, direction FROM sync.rejected ORDER BY direction").fetchall()
    con.close()
    assert rows == [(victim, "amount", "pull"), (local, "amount", "push")]
