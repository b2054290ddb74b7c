"""A record the CRM refuses in a push is set aside naming the canonical field the CRM refused: its
error points into the item sent (``custom_fields_values.0.field_id``, ``responsible_user_id``), and the
payload and the mapping say which field wrote that place. The CRM's own words stay in the reason."""

from tests.integration.push.test_push import project  # noqa: F401  (project is a fixture)
from tests.integration.push.test_push_requests import delete_field_after_lookup, other_owner, three_edited


def open_counts(sync):
    """``crmsync status``'s open counts of the contacts (refused by the CRM vs set aside before sending)."""
    from crmsync.status import pipeline_status

    status = pipeline_status(sync.project, pipeline=sync.crm, connection=sync.crm, entities=["contact"],
                             store=sync.store, source_name=sync.crm)
    return {k: getattr(status.entities[0], k) for k in ("refused", "set_aside")}


def rejected(sync):
    return sync.sql("SELECT remote_id, field, reason FROM sync.rejected WHERE direction = 'push'")


def test_a_custom_field_the_crm_refuses_is_named_by_its_canonical_field(project, fake_crm):  # noqa: F811
    server, sync = three_edited(project, fake_crm, deals=2)
    cid = sync.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0][0]
    sync.sql("UPDATE canonical.contacts SET custom = json_merge_patch(COALESCE(custom, '{}'), '{\"budget\": 777}'), "
             "position = 'Директор по закупкам' WHERE id = ?", [cid])  # two custom fields in the item
    delete_field_after_lookup(server, sync, "Бюджет")
    assert sync.push().entities["contact"]["rejected"] == 1
    rows = rejected(sync)
    assert [(r[0], r[1]) for r in rows] == [(sync.remote_id("contact", cid), "custom.budget")], rows
    assert "field_id" in rows[0][2] and "not a valid choice" in rows[0][2]  # the CRM's words kept
    assert open_counts(sync) == {"refused": 1, "set_aside": 0}  # still counted as the CRM's refusal


def test_a_top_level_key_the_crm_refuses_is_named_by_the_field_that_writes_it(project, fake_crm):  # noqa: F811
    server, sync = three_edited(project, fake_crm, deals=2)
    cid = sync.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0][0]
    owner = other_owner(sync)
    sync.sql("UPDATE canonical.contacts SET owner = ? WHERE id = ?", [owner, cid])
    users = server.app.account.users
    gone = next(u for u in users if str(u.get("email") or "").lower() == owner)

    def drop_user(response, **_):  # the user leaves the account after the push looked the users up
        if response.request.path_url.startswith("/api/v4/users") and gone in users:
            users.remove(gone)
        return response

    sync.session.hooks["response"].append(drop_user)
    pushed = sync.push().entities["contact"]
    assert pushed["rejected"] == 1 and pushed["updated"] == 2
    rows = rejected(sync)
    assert [(r[0], r[1]) for r in rows] == [(sync.remote_id("contact", cid), "owner")], rows
    assert "responsible_user_id" in rows[0][2]



def test_a_hubspot_property_the_crm_refuses_is_named_by_its_canonical_field(project, fake_crm):  # noqa: F811
    from tests.integration.push.test_push_hubspot import HubSpot

    hub = HubSpot(project, fake_crm("hubspot", contacts=6, deals=0, tasks=0, rate_limit=False))
    hub.pull()
    first, second = (r[0] for r in hub.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 2"))
    hub.sql("UPDATE canonical.contacts SET position = 'Head of sales', updated_at = now() WHERE id = ?", [first])
    hub.sql("UPDATE canonical.contacts SET first_name = 'Renamed', updated_at = now() WHERE id = ?", [second])
    hub.server.app.portal.prop("contacts", "jobtitle").read_only = True  # an admin locks the property meanwhile
    pushed = hub.push().entities["contact"]
    assert (pushed["updated"], pushed["rejected"]) == (1, 1), pushed
    rows = hub.sql("SELECT remote_id, field, reason FROM sync.rejected WHERE direction = 'push'")
    assert [(r[0], r[1]) for r in rows] == [(hub.linked("contact", first), "position")], rows
    assert "jobtitle" in rows[0][2]  # the CRM's words kept
