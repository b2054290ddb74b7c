"""A NUL (U+0000) or a lone surrogate in a CRM's value never stops a run, on either store.

PostgreSQL text and jsonb cannot hold U+0000 and refuse text that is not UTF-8; DuckDB takes both. A
CRM that sends one (a name, a custom text field, a note) must not fail a Postgres load: the record is
set aside in ``sync.rejected`` with the reason, the rest of the run applies, and the two stores reject the
same record the same way.
"""

import json

import pytest
import requests

from crmsync.project import Project
from tests.integration.pull import test_bad_values
from tests.integration.pull.test_bad_values import AMO, Crm
from tests.integration.pull.test_pull_connection import puller
from tests.store_plugin import both_stores

project = test_bad_values.project  # the fixture: a project with the shipped connectors and mappings


def _set_notes(crm, server, api, remote_id, value):
    """The contact's custom text field "Заметки" (notes), through the CRM's own write API."""
    if crm == "amocrm":
        fields = requests.get(server.url + "/api/v4/contacts/custom_fields", headers=AMO, timeout=10).json()
        fid = next(f["id"] for f in fields["_embedded"]["custom_fields"] if f["name"] == "Заметки")
        body = [{"id": int(remote_id), "custom_fields_values": [{"field_id": fid, "values": [{"value": value}]}]}]
        response = requests.patch(server.url + "/api/v4/contacts", headers=AMO, json=body, timeout=10)
    else:
        response = requests.post(api.rest + "crm.contact.update",
                                 json={"id": remote_id, "fields": {api._uf("Заметки"): value}}, timeout=10)
    assert response.status_code == 200, response.text


def _contact_first_name(store, project, remote_id):
    [(name,)] = store.rows(project, "SELECT c.first_name FROM canonical.contacts c JOIN sync.links l ON "
                                    "l.canonical_id = c.id WHERE l.entity = 'contact' AND l.remote_id = ?", [remote_id])
    return name


@both_stores
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_a_nul_postgres_cannot_hold_is_set_aside_and_the_run_goes_on(project, fake_crm, crm, store):
    server = fake_crm(crm, contacts=5, deals=2, tasks=1, rate_limit=False)
    pull, api = puller(project, crm, server, store.name), Crm(crm, server)
    pull()
    in_name, in_note, other = api.ids("contact")[:3]
    api.set("contact", in_name, "first_name", "Ив\x00ан")  # a text column of the raw table
    _set_notes(crm, server, api, in_note, "до\x00после")  # a custom field: a JSON column of the raw table
    api.set("contact", other, "first_name", "Хороший")  # a good change beside them, in the same page
    names_before = {r: _contact_first_name(store, project, r) for r in (in_name, in_note)}

    result = pull()  # no exception: the run goes on

    assert result.entities["contact"]["rejected"] == 2 and result.entities["contact"]["applied"] == 1
    rows = store.rows(project, "SELECT remote_id, field, reason, direction, raw FROM sync.rejected "
                               "WHERE entity = 'contact' ORDER BY field")
    # the first field read that holds the text is named (AmoCRM derives the full name from the first name)
    assert [(r[0], r[1], r[3]) for r in rows] == [(in_note, "custom.notes", "pull"), (in_name, "name", "pull")]
    for _remote_id, _field, reason, _direction, raw in rows:
        assert "control character U+0000" in reason, reason
        assert raw is not None and "\\u0000" in raw  # what the CRM sent is kept, the NUL shown, not lost
    assert _contact_first_name(store, project, other) == "Хороший"
    # the rejected records keep their last good values: nothing became null
    assert {r: _contact_first_name(store, project, r) for r in (in_name, in_note)} == names_before

    api.set("contact", in_name, "first_name", "Иван")
    _set_notes(crm, server, api, in_note, "починено")
    fixed = pull()
    assert fixed.entities["contact"]["rejected"] == 0 and fixed.entities["contact"]["applied"] == 2
    assert _contact_first_name(store, project, in_name) == "Иван"


def test_a_crm_s_own_words_holding_a_nul_are_kept_on_postgres_with_the_nul_shown(tmp_path, pg_dsn, monkeypatch):
    """A refusal's reason or an op's last error quotes the CRM, NUL and all: Postgres text cannot hold it, so
    the store layer keeps it shown as \\u0000 instead of failing the run (DuckDB keeps the character)."""
    from crmsync.canonical.apply import REJECTED_COLUMNS, insert_rows
    from crmsync.canonical.tables import ensure
    from crmsync.push.outbox import Op, enqueue, mark
    from crmsync.store import POSTGRES, open_store
    from crmsync.store_postgres import DEFAULT_DSN_ENV

    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)
    with open_store(Project(tmp_path).store_path(POSTGRES + DEFAULT_DSN_ENV)) as con:
        ensure(con, {})
        insert_rows(con, "sync.rejected", REJECTED_COLUMNS, [  # staged rows: JSON text, the NUL escaped in it
            {"run_id": "r1", "entity": "contact", "connection": "amo", "remote_id": "7", "field": "name",
             "reason": "CRM said: bad\x00name", "direction": "pull", "raw": '{"name": "a\\\\\\u0000"}'}])
        con.execute("INSERT INTO sync.rejected (run_id, entity, connection, remote_id, field, reason, direction, raw) "
                    "VALUES (?, 'contact', 'amo', '8', '', ?, 'push', ?)", ["r1", "refused: x\x00y", '{"id": "8"}'])
        [op] = enqueue(con, "r1", "amo", "contact", [Op(
            kind="create", entity="contact", connection="amo", canonical_id="c1", remote_id=None, fields=["name"],
            values={"name": "n"}, payload={"name": "n"}, idempotency_key="k1")])
        mark(con, [op.op_id], "rejected", "the CRM answered: \x00oops")
        reasons = dict(con.execute("SELECT remote_id, reason FROM sync.rejected").fetchall())
        raw = con.execute("SELECT raw FROM sync.rejected WHERE remote_id = '7'").fetchone()[0]
        error = con.execute("SELECT last_error FROM sync.outbox").fetchone()[0]
    assert reasons == {"7": "CRM said: bad\\u0000name", "8": "refused: x\\u0000y"}
    assert json.loads(raw) == {"name": "a\\\\u0000"}  # the backslash before it kept, the NUL shown
    assert error == "the CRM answered: \\u0000oops"
