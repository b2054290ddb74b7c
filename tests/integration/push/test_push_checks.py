"""Push refuses what the CRM would refuse or mangle, before sending (issue 13, item 3 and its push part).

A bad canonical value (SQL) sits beside a good edit of another record: the push must not crash, must
not send the bad record (the fake's records are compared through its API), must set it aside in
``sync.rejected`` (direction push) naming the field and the reason, must send the good edit and the
other entities, and must send the record once the value is fixed.
"""

import duckdb
import pytest

from tests.integration.push.test_push import Sync, project  # noqa: F401 (a fixture)

BIG = "12345678901234567890"


@pytest.fixture(params=["amocrm", "bitrix24"])
def synced(request, project, fake_crm):  # noqa: F811
    server = fake_crm(request.param, contacts=8, deals=6, tasks=4, rate_limit=False)
    sync = Sync(project, request.param, server)
    sync.pull()
    return sync


def fake_deal(sync, remote_id):
    if sync.crm == "amocrm":
        return sync.session.get(f"{sync.server.url}/api/v4/leads/{remote_id}").json()
    return sync.session.get(f"{sync.base}/crm.deal.get", params={"id": remote_id}).json()["result"]


def crm_amount(sync, remote_id):
    deal = fake_deal(sync, remote_id)
    return deal["price"] if sync.crm == "amocrm" else deal["OPPORTUNITY"]


def push_rejections(sync):
    return sync.sql("SELECT remote_id, field, reason FROM sync.rejected WHERE direction = 'push' ORDER BY field")


def two_deals(sync):
    ids = [r[0] for r in sync.sql("SELECT id FROM canonical.deals ORDER BY id LIMIT 2")]
    return [(cid, sync.remote_id("deal", cid)) for cid in ids]


@pytest.mark.parametrize("amount", ["1e30", BIG, "'NaN'", "100.125"])
def test_an_amount_the_store_cannot_keep_is_refused_where_it_is_typed(synced, amount):
    """The typed store (DECIMAL with a CHECK of the schema's scale and bounds) refuses these at UPDATE
    time: the row keeps its value, so no push can send them."""
    (bad, _), _ = two_deals(synced)
    before = synced.sql("SELECT amount FROM canonical.deals WHERE id = ?", [bad])
    with pytest.raises((duckdb.ConversionException, duckdb.ConstraintException)):
        synced.sql(f"UPDATE canonical.deals SET amount = {amount} WHERE id = ?", [bad])
    assert synced.sql("SELECT amount FROM canonical.deals WHERE id = ?", [bad]) == before


@pytest.fixture
def amo_synced(project, fake_crm):  # noqa: F811
    sync = Sync(project, "amocrm", fake_crm("amocrm", contacts=8, deals=6, tasks=4, rate_limit=False))
    sync.pull()
    return sync


@pytest.mark.parametrize("amount", ["100.5", "0.01"])
def test_an_amount_the_crm_cannot_keep_is_refused_and_the_rest_is_pushed(amo_synced, amount):
    """An amount the store keeps but AmoCRM cannot (it keeps whole units; Bitrix24 keeps what the
    canonical schema allows, so nothing the store takes is refused there)."""
    synced = amo_synced
    (bad, bad_remote), (good, good_remote) = two_deals(synced)
    before = crm_amount(synced, bad_remote)
    synced.sql(f"UPDATE canonical.deals SET amount = {amount} WHERE id = ?", [bad])
    synced.sql("UPDATE canonical.deals SET title = 'Сделка в порядке' WHERE id = ?", [good])
    (task,) = synced.sql("SELECT id FROM canonical.tasks ORDER BY id LIMIT 1")[0]
    synced.sql("UPDATE canonical.tasks SET title = 'Задача после сделок' WHERE id = ?", [task])

    result = synced.push()  # no exception: deals and the tasks after them are pushed

    assert result.entities["deal"]["updated"] == 1 and result.entities["deal"]["rejected"] == 1
    assert result.entities["task"]["updated"] == 1
    [(remote_id, field, reason)] = push_rejections(synced)
    assert (remote_id, field) == (bad_remote, "amount") and reason
    assert crm_amount(synced, bad_remote) == before  # never sent, so never mangled
    assert synced.sql("SELECT count(*) FROM sync.outbox WHERE canonical_id = ?", [bad]) == [(0,)]
    title = fake_deal(synced, good_remote)["name" if synced.crm == "amocrm" else "TITLE"]
    assert title == "Сделка в порядке"

    synced.sql("UPDATE canonical.deals SET amount = 4321 WHERE id = ?", [bad])
    fixed = synced.push()
    assert fixed.entities["deal"]["updated"] == 1 and fixed.entities["deal"]["rejected"] == 0
    assert float(crm_amount(synced, bad_remote)) == 4321


def test_an_exact_big_amount_is_never_sent_rounded(synced):
    """12345678901234567890 must not reach a CRM as 1.2345678901234567e19: whatever the store kept,
    what is on the wire is either exact or nothing."""
    (bad, bad_remote), _ = two_deals(synced)
    with pytest.raises(duckdb.ConversionException):  # the typed store does not even take it
        synced.sql(f"UPDATE canonical.deals SET amount = {BIG} WHERE id = ?", [bad])
    bodies = []
    synced.session.hooks["response"].append(lambda r, **_: bodies.append(r.request.body or b""))
    synced.push()
    sent = b"".join(b if isinstance(b, bytes) else b.encode() for b in bodies)
    assert b"e+19" not in sent and b"E+19" not in sent and b"1234567890123456" not in sent


@pytest.mark.parametrize(("field", "value"), [("title", "Я" * 300), ("stage", "Нет такой стадии")])
def test_a_deal_field_beyond_the_crm_s_limits_is_refused(synced, field, value):
    (bad, bad_remote), _ = two_deals(synced)
    synced.sql(f"UPDATE canonical.deals SET {field} = ? WHERE id = ?", [value, bad])
    result = synced.push()
    assert result.entities["deal"]["rejected"] == 1 and result.entities["deal"]["updated"] == 0
    [(remote_id, named, reason)] = push_rejections(synced)
    assert (remote_id, named) == (bad_remote, field)
    assert ("300 characters" in reason) if field == "title" else ("Нет такой стадии" in reason)


def test_a_local_edit_of_a_pull_only_field_is_reported_not_ignored(synced):
    (cid, remote_id), (other, _) = two_deals(synced)
    synced.sql("UPDATE canonical.deals SET status = CASE WHEN status = 'won' THEN 'lost' ELSE 'won' END, "
               "updated_at = now() WHERE id = ?", [cid])
    synced.sql("UPDATE canonical.deals SET title = 'Обычная правка' WHERE id = ?", [other])
    result = synced.push()
    assert result.entities["deal"]["updated"] == 1  # the other edit goes; nothing is sent for the status
    [(rid, field, reason)] = push_rejections(synced)
    assert (rid, field) == (remote_id, "status") and "pull-only" in reason
    again = synced.push()  # still reported, still not sent; no second row for the same edit
    assert again.entities["deal"]["updated"] == 0 and len(push_rejections(synced)) == 1
