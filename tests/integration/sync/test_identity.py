"""Two CRMs that hold the same people, synced into one store: a person is one canonical row and
stays one record in each CRM — matched by e-mail, not created again on the other side."""

import json
from collections import Counter

from tests.integration.sync.test_sync_cli import project, sent, sql  # noqa: F401  (project is a fixture)
from tests.integration.test_pull_cli import run_here


def emails_in(server):
    key = "custom_fields_values" if "amocrm" in server.crm else "EMAIL"
    out = []
    for row in server.app.table("contacts").rows.values():
        if key == "EMAIL":
            out += [e["VALUE"].lower() for e in row.get("EMAIL") or []]
        else:
            for f in row.get(key) or []:
                if f.get("field_code") == "EMAIL":
                    out += [v["value"].lower() for v in f["values"]]
    return out


def test_the_same_person_in_both_crms_is_one_row_and_is_not_duplicated(project, fake_crm):  # noqa: F811
    amo = fake_crm("amocrm", contacts=25, deals=2, tasks=2, rate_limit=False)
    b24 = fake_crm("bitrix24", contacts=25, deals=2, tasks=2, rate_limit=False)
    amo.crm, b24.crm = "amocrm", "bitrix24"
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
             "--long-lived-token", "demo-token")
    run_here(project, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", b24.url + "/rest/1/demo/")
    seeded = Counter(emails_in(amo))
    assert seeded == Counter(emails_in(b24))  # the fakes are seeded with the same world

    run_here(project, "sync", "amocrm", "--json")
    first = json.loads(run_here(project, "sync", "bitrix24", "--json"))
    matched = first["entities"]["contact"]["matched"]
    assert matched > 0
    both = sql(project, "SELECT count(*) FROM (SELECT canonical_id FROM sync.links WHERE entity = 'contact' "
                        "AND base IS NOT NULL GROUP BY canonical_id HAVING count(DISTINCT connection) = 2)")[0][0]
    assert both >= matched
    total = sql(project, "SELECT count(*) FROM canonical.contacts")[0][0]
    with_email = sum(1 for row in b24.app.table("contacts").rows.values() if row.get("EMAIL"))
    assert matched == with_email  # everyone with an address, even two people sharing one, found once
    assert total == 25 + 25 - matched  # people without an e-mail cannot be told apart: they stay two

    run_here(project, "sync", "amocrm", "--json")  # what Bitrix24 added reaches AmoCRM, nothing twice
    for server in (amo, b24):
        assert Counter(emails_in(server)) == seeded, f"{server.crm} holds a person twice"
        assert len(server.app.table("contacts").rows) == total
    assert sent(json.loads(run_here(project, "sync", "bitrix24", "--json"))) == 0
    assert sent(json.loads(run_here(project, "sync", "amocrm", "--json"))) == 0
