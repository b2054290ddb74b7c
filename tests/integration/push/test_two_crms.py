"""One store, two CRMs: records read from AmoCRM are created in Bitrix24 by its pipeline, and the
values only AmoCRM holds (a contact's company, pulled one way) survive the round through Bitrix24."""

import shutil

import pytest

from crmsync.project import Project, builtin_project_dir
from tests.integration.push.test_push import Sync


@pytest.fixture
def project(tmp_path):
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, tmp_path / folder)
    return Project(tmp_path)


def test_records_from_one_crm_reach_the_other_without_losing_what_only_the_first_holds(project, fake_crm):
    amo = Sync(project, "amocrm", fake_crm("amocrm", contacts=15, deals=5, tasks=5, rate_limit=False))
    b24 = Sync(project, "bitrix24", fake_crm("bitrix24", contacts=5, deals=2, tasks=2, rate_limit=False))
    b24.pull()  # both connections have been read once, as a pipeline does before it writes
    amo.pull()
    before = dict(amo.sql("SELECT id, company FROM canonical.contacts"))
    assert sum(1 for c in before.values() if c) > 5

    sent = b24.push()
    assert sent.entities["contact"]["created"] == 15 and sent.entities["deal"]["created"] == 5
    assert amo.push().entities["contact"]["created"] == 5  # and Bitrix24's own records reach AmoCRM
    assert dict(amo.sql("SELECT id, company FROM canonical.contacts")) == before  # nothing blanked

    b24_pull = b24.pull().entities
    assert all(c["applied"] == 0 for c in b24_pull.values()), (b24_pull, b24.sql(
        "SELECT field, old, new FROM sync.changes WHERE side = 'crm:bitrix24' LIMIT 6"))  # our writes do not echo
    amo_pull = amo.pull().entities
    assert all(c["applied"] == 0 for c in amo_pull.values()), amo_pull
    again = b24.push().entities
    assert all(c["created"] == 0 and c["updated"] == 0 for c in again.values()), again
    back = amo.push().entities
    assert all(c["created"] == 0 and c["updated"] == 0 for c in back.values()), (back, amo.sql(
        "SELECT entity, kind, fields FROM sync.outbox WHERE connection = 'amocrm' ORDER BY created_at DESC LIMIT 5"))
