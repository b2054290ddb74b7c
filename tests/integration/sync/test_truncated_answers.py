"""Issue 13's repro: with 40 % of all answers cut off after the CRM ran the request, a sync that creates 600
contacts and edits 200 leaves each exactly once in the CRM and in the store (it was 1,850 records in
AmoCRM and 845 in Bitrix24 when a cut-off write was simply sent again)."""

import json
from collections import Counter

import pytest
import requests

from tests.integration.push.test_push_cli import sql
from tests.integration.sync.test_sync_cli import project  # noqa: F401  (project is a fixture)
from tests.integration.test_pull_cli import run_here

NEW, EDITED = 600, 200


def names(server, crm):
    rows = requests.get(server.url + "/_fake/records", params={"entity": "contacts"}, timeout=30).json()["records"]
    first, last = ("first_name", "last_name") if crm == "amocrm" else ("NAME", "LAST_NAME")
    return [(r.get(first), r.get(last)) for r in rows]


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_cut_off_answers_duplicate_nothing(project, fake_crm, crm):  # noqa: F811
    server = fake_crm(crm, contacts=EDITED + 20, deals=2, tasks=2, rate_limit=False)
    if crm == "amocrm":
        run_here(project, "connect", crm, "--name", crm, "--base-url", server.url, "--long-lived-token", "demo-token")
    else:
        run_here(project, "connect", crm, "--name", crm, "--webhook-url", server.url + "/rest/1/demo/")
    run_here(project, "sync", crm, "--json")
    before = len(names(server, crm))
    sql(project, f"INSERT INTO canonical.contacts (id, version, first_name, last_name) "
                 f"SELECT 'repro-' || i, 1, 'Repro' || i, 'Truncate' FROM range({NEW}) t(i)")
    sql(project, f"UPDATE canonical.contacts SET last_name = 'Edited' WHERE id IN "
                 f"(SELECT id FROM canonical.contacts WHERE id NOT LIKE 'repro-%' ORDER BY id LIMIT {EDITED})")
    requests.post(server.url + "/_fake/faults", json={"spec": "truncate:0.4"}, timeout=10).raise_for_status()

    first = json.loads(run_here(project, "sync", crm, "--json"))["entities"]["contact"]
    requests.delete(server.url + "/_fake/faults", timeout=10).raise_for_status()
    truncated = server.faults.injected.get("truncate", 0)
    run_here(project, "sync", crm, "--json")

    counted = Counter(names(server, crm))
    copies = max(n for (name, _), n in counted.items() if str(name).startswith("Repro"))
    print(f"{crm}: {truncated} answers cut off; records {before} before, {sum(counted.values())} after "
          f"(+{NEW} intended); the most copies of one new contact: {copies}")
    assert truncated > 0 and first["created"] == NEW and first["updated"] == EDITED
    assert sum(counted.values()) == before + NEW and copies == 1
    assert all(counted[(f"Repro{i}", "Truncate")] == 1 for i in range(NEW))
    assert sum(n for (_, last), n in counted.items() if last == "Edited") == EDITED
    assert sql(project, "SELECT count(*), count(*) FILTER (WHERE id LIKE 'repro-%') FROM canonical.contacts "
                        "WHERE deleted_at IS NULL") == [(before + NEW, NEW)]
    assert sql(project, "SELECT count(*) FROM sync.outbox WHERE status IN ('sending', 'unknown', 'pending')") == [(0,)]
