"""The records of the cursor's last second are read again (the filter is inclusive): the read loads those
whose content changed within that second and drops those it holds as they are, by their fingerprints,
which the thread that fetches the pages now computes."""

import pytest
import requests

from tests.integration.fake_sessions import store_rows as rows
from tests.integration.read.test_read_raw import project, reader  # noqa: F401


def test_a_change_within_the_boundary_second_is_read_and_its_unchanged_neighbours_are_not(project, fake_crm):  # noqa: F811
    server = fake_crm("amocrm", contacts=300, deals=5, tasks=5, rate_limit=False)
    read = reader(project, "amocrm", server)
    assert read().read["contact"] == 300
    newest = rows(project, "SELECT max(updated_at) FROM raw_amocrm.contact")[0][0]
    boundary = {r[0] for r in rows(project, f"SELECT id FROM raw_amocrm.contact WHERE updated_at = {newest}")}
    requests.post(server.url + "/_fake/clock", json={"freeze": newest}, timeout=10).raise_for_status()

    def touch(rid):
        before = rows(project, f"SELECT _rowhash FROM raw_amocrm.contact WHERE id = {rid}")[0][0]
        requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "ids": [rid]},
                      timeout=10).raise_for_status()
        return before

    elsewhere = min(rows(project, f"SELECT id FROM raw_amocrm.contact WHERE updated_at < {newest}"))[0]
    old = touch(elsewhere)  # moved into the boundary second, changed
    second = read()
    assert second.read["contact"] == 1  # the boundary's records came again, unchanged: dropped
    assert rows(project, f"SELECT id, updated_at FROM raw_amocrm.contact WHERE _dlt_load_id = '{second.load_id}'") \
        == [(elsewhere, newest)]
    assert rows(project, f"SELECT _rowhash FROM raw_amocrm.contact WHERE id = {elsewhere}")[0][0] != old

    again = sorted(boundary)[0]
    old = touch(again)  # changed again within the very second the cursor holds
    third = read()
    assert third.read["contact"] == 1
    assert rows(project, f"SELECT id FROM raw_amocrm.contact WHERE _dlt_load_id = '{third.load_id}'") == [(again,)]
    assert rows(project, f"SELECT _rowhash FROM raw_amocrm.contact WHERE id = {again}")[0][0] != old
    assert read().read["contact"] == 0
    assert rows(project, "SELECT count(*), count(DISTINCT id) FROM raw_amocrm.contact") == [(300, 300)]


@pytest.mark.parametrize("paced", [False, True])
def test_unpaced_the_fetching_thread_fingerprints_the_records_as_the_probe_does(project, fake_crm, paced):  # noqa: F811
    from crmsync.read.columns import ENGINE, ROWHASH_COLUMN, row_hash
    from crmsync.read.rest import listing_pages
    from tests.integration.fake_sessions import fake_session

    server = fake_crm("amocrm", contacts=300, deals=0, tasks=0, rate_limit=False)
    connector, session, base = fake_session(project, "amocrm", server, paced=paced)
    pages = list(listing_pages(session, base, connector["entities"]["contact"], connector, None, entity="contact"))
    records = [row for _, page in pages for row in page]
    assert len(records) == 300
    if paced:  # the engine fingerprints them (PagedRead._fresh): the fetching thread keeps the CRM's pace
        assert not any(ROWHASH_COLUMN in row for row in records)
    else:
        assert all(row[ROWHASH_COLUMN] == row_hash({k: v for k, v in row.items() if k not in ENGINE})
                   for row in records)
