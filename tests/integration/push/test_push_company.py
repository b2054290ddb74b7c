"""A contact's company made two-way (the shipped AmoCRM mapping keeps it pull-only): the push writes the
company's id typed as the CRM's company list has it, which the CRM takes, and the next pull agrees."""

from tests.integration.push.test_push import Sync, project  # noqa: F401  (project is a fixture)


def test_a_two_way_company_is_pushed_by_its_id_and_read_back_unchanged(project, fake_crm):  # noqa: F811
    spec = project.mappings_dir / "amocrm" / "contact.yaml"
    text = spec.read_text(encoding="utf-8")
    two_way = text.replace("    transforms: [{type: first, key: id}, {type: company}]\n    direction: pull\n",
                           "    transforms: [{type: first, key: id}, {type: company}]\n")
    assert two_way != text
    spec.write_text(two_way, encoding="utf-8")
    server = fake_crm("amocrm", contacts=20, deals=0, tasks=0, rate_limit=False)
    sync = Sync(project, "amocrm", server)
    sync.pull()
    companies = {row["name"]: cid for cid, row in server.app.tables["companies"].rows.items()}
    cid, now = sync.sql("SELECT id, company FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    other = sorted(name for name in companies if name != now)[0]
    sync.sql("UPDATE canonical.contacts SET company = ?, updated_at = now() WHERE id = ?", [other, cid])
    pushed = sync.push().entities["contact"]
    rejected = sync.sql("SELECT field, reason FROM sync.rejected")
    assert (pushed["updated"], pushed["rejected"], rejected) == (1, 0, []), (pushed, rejected)
    contact = sync.fake_contact(sync.remote_id("contact", cid))
    assert [c["id"] for c in contact["_embedded"]["companies"]] == [companies[other]]
    assert sync.pull().entities["contact"]["applied"] == 0  # our own write read back: no change, no echo
    assert sync.sql("SELECT company FROM canonical.contacts WHERE id = ?", [cid]) == [(other,)]
