"""A NUL (U+0000) or a lone surrogate in a CRM's value never stops a run, on either store.

PostgreSQL text and jsonb cannot hold U+0000 and refuse text that is not UTF-8; DuckDB takes both. A
CRM that sends one (a name, a custom text field, a note) must not fail a Postgres load: the record is
set aside in ``sync.rejected`` with the reason, the rest of the run applies, and the two stores reject the
same record the same way.
"""

import pytest
import requests

from tests.integration.pull.test_bad_values import Crm
from tests.integration.pull.test_pull_connection import project, puller  # noqa: F401 (the project fixture)
from tests.store_plugin import both_stores

AMO = {"Authorization": "Bearer demo-token"}


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


BAD = {"nul in a name": ("first_name", "Ив\x00ан"), "nul in a note": ("notes", "до\x00после"),
       "lone surrogate in a note": ("notes", "a\ud800b")}


@both_stores
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
@pytest.mark.parametrize("case", list(BAD))
def test_a_value_postgres_cannot_hold_is_set_aside_and_the_run_goes_on(project, fake_crm, crm, case, store):  # noqa: F811
    field, bad = BAD[case]
    server = fake_crm(crm, contacts=5, deals=4, tasks=2, rate_limit=False)
    pull, api = puller(project, crm, server, store.name), Crm(crm, server)
    pull()
    victim, other = api.ids("contact")[:2]
    if field == "notes":
        _set_notes(crm, server, api, victim, bad)
    else:
        api.set("contact", victim, field, bad)
    api.set("contact", other, "first_name", "Хороший")  # a good change beside it, in the same page

    result = pull()  # no exception: the run goes on

    assert result.entities["contact"]["rejected"] == 1
    rows = store.rows(project, "SELECT remote_id, field, reason, direction, raw FROM sync.rejected "
                               "WHERE entity = 'contact'")
    [(remote_id, name, reason, direction, raw)] = rows
    assert (remote_id, direction) == (victim, "pull")
    assert name in ({"first_name", "name"} if field == "first_name" else {"custom.notes"})
    expected = "U+0000" if "\x00" in bad else "not valid Unicode"
    assert expected in reason, reason
    assert raw is not None  # what the CRM sent is kept, as far as the store can hold it
    [(first_name,)] = store.rows(project, "SELECT c.first_name FROM canonical.contacts c JOIN sync.links l ON "
                                          "l.canonical_id = c.id WHERE l.entity = 'contact' AND l.remote_id = ?",
                                 [other])
    assert first_name == "Хороший"
    # the victim keeps its last good values: nothing became null
    [(victim_name,)] = store.rows(project, "SELECT c.first_name FROM canonical.contacts c JOIN sync.links l ON "
                                           "l.canonical_id = c.id WHERE l.entity = 'contact' AND l.remote_id = ?",
                                  [victim])
    assert victim_name

    assert pull().entities["contact"]["rejected"] == 0  # nothing new read: the rejection stays as it was
    if field == "notes":
        _set_notes(crm, server, api, victim, "починено")
    else:
        api.set("contact", victim, field, "Иван")
    fixed = pull()
    assert fixed.entities["contact"]["rejected"] == 0 and fixed.entities["contact"]["applied"] == 1
