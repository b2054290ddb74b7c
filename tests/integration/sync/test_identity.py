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


def hubspot_emails(server):
    return [row["props"]["email"].lower() for row in server.app.table("contacts").rows.values()
            if row["props"].get("email")]


def test_a_person_in_hubspot_and_amocrm_is_one_row_and_neither_crm_gets_them_twice(project, fake_crm):  # noqa: F811
    amo = fake_crm("amocrm", contacts=20, deals=2, tasks=2, rate_limit=False)
    hub = fake_crm("hubspot", contacts=20, deals=2, tasks=2, rate_limit=False)
    amo.crm = "amocrm"
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
             "--long-lived-token", "demo-token")
    run_here(project, "connect", "hubspot", "--name", "hubspot", "--base-url", hub.url,
             "--long-lived-token", "demo-token")
    in_hubspot = hubspot_emails(hub)
    assert in_hubspot and set(in_hubspot) <= set(emails_in(amo))  # the same world: HubSpot keeps a first address

    run_here(project, "sync", "amocrm", "--json")
    first = _sync(project, "hubspot")
    matched = first["entities"]["contact"]["matched"]
    assert matched == len(in_hubspot)  # everyone HubSpot knows by an address is found, once
    # each HubSpot contact with an address is the canonical row of the AmoCRM contact with that address
    pairs = sql(project, "SELECT h.remote_id, a.remote_id FROM sync.links h JOIN sync.links a "
                         "ON a.canonical_id = h.canonical_id AND a.entity = 'contact' AND a.connection = 'amocrm' "
                         "WHERE h.entity = 'contact' AND h.connection = 'hubspot'")
    amo_emails = {str(rid): {e for e in _amo_row_emails(row)} for rid, row in amo.app.table("contacts").rows.items()}
    hub_rows = hub.app.table("contacts").rows
    for hub_id, amo_id in pairs:
        email = (hub_rows[int(hub_id)]["props"].get("email") or "").lower() if int(hub_id) in hub_rows else ""
        if email:
            assert email in amo_emails[str(amo_id)], (hub_id, amo_id)
    assert len({h for h, _ in pairs}) == len(pairs) and len({a for _, a in pairs}) == len(pairs)

    before = Counter(emails_in(amo))
    _sync(project, "amocrm")  # what HubSpot added reaches AmoCRM, nothing twice
    after = Counter(emails_in(amo))
    assert all(after[e] <= before[e] for e in after)  # HubSpot's people with an address were AmoCRM's already
    assert Counter(hubspot_emails(hub)) == Counter(set(hubspot_emails(hub)))  # one address, one HubSpot contact
    _sync(project, "hubspot")
    _sync(project, "amocrm")  # records AmoCRM made read back with an empty multi-select as [] once: settled
    assert sent(_sync(project, "hubspot")) == 0
    assert sent(_sync(project, "amocrm")) == 0
    # what HubSpot could not take is set aside with its reason, never half-written: AmoCRM contacts with
    # more numbers or addresses than HubSpot has properties, and deals / tasks linked to those contacts
    reasons = sql(project, "SELECT DISTINCT entity, field FROM sync.rejected WHERE connection = 'hubspot'")
    assert set(reasons) <= {("contact", "phones"), ("contact", "emails"), ("deal", "contacts"), ("task", "related")}


def test_a_person_matched_in_hubspot_keeps_in_amocrm_the_addresses_hubspot_cannot_hold(project, fake_crm):  # noqa: F811
    amo = fake_crm("amocrm", contacts=20, deals=2, tasks=2, rate_limit=False)
    hub = fake_crm("hubspot", contacts=20, deals=2, tasks=2, rate_limit=False)
    amo.crm = "amocrm"
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
             "--long-lived-token", "demo-token")
    run_here(project, "connect", "hubspot", "--name", "hubspot", "--base-url", hub.url,
             "--long-lived-token", "demo-token")
    run_here(project, "sync", "amocrm", "--json")
    before = Counter(emails_in(amo))
    _sync(project, "hubspot")
    _sync(project, "amocrm")
    assert Counter(emails_in(amo)) == before


def _sync(where, pipeline):
    """``crmsync sync PIPELINE --json``: exit 0, or 5 when records were set aside (sync.rejected)."""
    from click.testing import CliRunner

    from crmsync.cli import cli

    result = CliRunner().invoke(cli, ["sync", pipeline, "--json", "--project-dir", str(where)],
                                catch_exceptions=False)
    assert result.exit_code in (0, 5), result.output
    return json.loads(result.stdout)


def _amo_row_emails(row):
    return [v["value"].lower() for f in row.get("custom_fields_values") or [] if f.get("field_code") == "EMAIL"
            for v in f["values"]]
