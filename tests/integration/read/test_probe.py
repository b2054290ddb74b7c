"""An incremental pull with nothing new does not start dlt; a change at the cursor's own second is still read."""

import pytest
import requests

from tests.integration.fake_sessions import store_rows as query
from tests.integration.pull.test_pull_connection import NATIVE_CONTACT, project, puller  # noqa: F401


def trace_mtime(project, crm):  # noqa: F811
    path = project.dlt_dir / f"crmsync_{crm}" / "trace.pickle"
    return path.stat().st_mtime_ns if path.exists() else None


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_nothing_new_skips_dlt_and_a_change_in_the_boundary_second_is_read(project, fake_crm, crm):  # noqa: F811
    server = fake_crm(crm, contacts=40, deals=5, tasks=5, rate_limit=False)
    pull = puller(project, crm, server)
    pull()
    before = trace_mtime(project, crm)
    quiet = pull()
    assert all(c["read"] == 0 and c["applied"] == 0 for c in quiet.entities.values())
    assert trace_mtime(project, crm) == before  # dlt did not run

    # A CRM edit stamped with the very second the raw table already ends at: the inclusive filter
    # lists it among the known boundary records, and only its id tells it apart.
    column = "updated_at" if crm == "amocrm" else "_cursor"  # epoch seconds in both raw tables
    newest = query(project, f'SELECT max("{column}") FROM raw_{crm}.contact')[0][0]
    requests.post(server.url + "/_fake/clock", json={"freeze": newest}, timeout=10).raise_for_status()
    touched = requests.post(server.url + "/_fake/touch", json={"entity": NATIVE_CONTACT[crm], "count": 1},
                            timeout=10).json()["touched"]
    assert touched
    again = pull()
    assert again.entities["contact"]["read"] >= 1 and again.entities["contact"]["applied"] == 1
    assert trace_mtime(project, crm) != before
    assert query(project, "SELECT count(*) FROM canonical.contacts") == [(40,)]
