"""Cases the long value fuzz (tests/integration/sync/test_fuzz_values.py) found, kept as focused tests.

The bitrix24-push failure "first_name = '0001-01-01T00:00:00Z' neither sent nor set aside" was a
chain: a task due at 9999-12-31T23:59:59Z (year 10000 in the portal's +03:00) made the fake Bitrix24
answer 500 for the whole task batch, so the push stopped after the contacts had gone out; the
example's clean-up restored the store but not the CRM, and when Hypothesis ran the example again to
report it, the contact's value was already what the CRM held: rightly nothing to send, and nothing
to set aside.
"""

from tests.integration.push.test_push import Sync, project  # noqa: F401 (a fixture)

YEAR_1 = "0001-01-01T00:00:00Z"
PAST_9999 = "9999-12-31T23:59:59Z"  # fine in UTC; year 10000 in the portal's zone


def _ids(sync, table):
    return [r[0] for r in sync.sql(f"SELECT c.id FROM canonical.{table} c JOIN sync.links l ON l.canonical_id = c.id "
                                   "AND l.base IS NOT NULL ORDER BY c.id")]


def test_a_task_date_the_portal_cannot_keep_is_set_aside_and_the_rest_goes_out(project, fake_crm):  # noqa: F811
    sync = Sync(project, "bitrix24", fake_crm("bitrix24", contacts=6, deals=4, tasks=4, rate_limit=False))
    sync.pull()
    contact, (task, other_task) = _ids(sync, "contacts")[0], _ids(sync, "tasks")[:2]
    sync.sql("UPDATE canonical.contacts SET first_name = ? WHERE id = ?", [YEAR_1, contact])
    sync.sql("UPDATE canonical.tasks SET due_at = ? WHERE id = ?", [PAST_9999, task])
    sync.sql("UPDATE canonical.tasks SET title = 'Call back' WHERE id = ?", [other_task])

    result = sync.push()  # no exception: the CRM's refusal is one record's, not the run's

    assert sync.fake_contact(sync.remote_id("contact", contact))["NAME"] == YEAR_1  # text, sent as typed
    sent = {c for (c,) in sync.sql("SELECT canonical_id FROM sync.outbox WHERE run_id = ? AND status = 'sent'",
                                   [result.run_id])}
    assert {contact, other_task} <= sent and task not in sent
    (reason,) = sync.sql("SELECT reason FROM sync.rejected WHERE run_id = ? AND direction = 'push' "
                         "AND json_extract_string(raw, '$.canonical_id') = ?", [result.run_id, task])[0]
    assert "DEADLINE" in reason and "9999-12-31T23:59:59" in reason  # what the CRM said, naming the field


def test_a_value_the_crm_already_holds_is_not_sent_again_nor_set_aside(project, fake_crm):  # noqa: F811
    """What the fuzz's replay saw: the local value equals what was last agreed with the CRM."""
    sync = Sync(project, "bitrix24", fake_crm("bitrix24", contacts=6, deals=4, tasks=4, rate_limit=False))
    sync.pull()
    contact = _ids(sync, "contacts")[0]
    (before,) = sync.sql("SELECT first_name FROM canonical.contacts WHERE id = ?", [contact])[0]
    sync.sql("UPDATE canonical.contacts SET first_name = ? WHERE id = ?", [YEAR_1, contact])
    assert sync.push().entities["contact"]["updated"] == 1
    sync.sql("UPDATE canonical.contacts SET first_name = ? WHERE id = ?", [before, contact])  # local only
    sync.sql("UPDATE canonical.contacts SET first_name = ? WHERE id = ?", [YEAR_1, contact])  # back again
    writes = sync.writes

    again = sync.push()

    assert again.entities["contact"]["updated"] == 0 and again.entities["contact"]["rejected"] == 0
    assert sync.writes == writes
    assert sync.fake_contact(sync.remote_id("contact", contact))["NAME"] == YEAR_1
