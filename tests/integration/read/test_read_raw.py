"""Reading both fake CRMs into raw DuckDB tables through dlt: complete, incremental, resumable."""

import shutil

import pytest
import requests

from crmsync.project import Project, builtin_project_dir
from crmsync.read.held_state import held_resources
from crmsync.read.run import read_connection
from tests.integration.fake_sessions import fake_session
from tests.integration.fake_sessions import store_rows as rows

ENTITIES = ["contact", "deal", "task"]
NATIVE = {"amocrm": {"contact": "contacts", "deal": "leads", "task": "tasks"},
          "bitrix24": {"contact": "contact", "deal": "deal", "task": "task"}}
KEY = {"amocrm": "id", "bitrix24": "ID"}


@pytest.fixture
def project(tmp_path):
    shutil.copytree(builtin_project_dir() / "connectors", tmp_path / "connectors")
    return Project(tmp_path)


def reader(project, crm, server, *, paced=False, **kw):
    connector, session, base = fake_session(project, crm, server, paced=paced, **kw)

    def read(**more):
        return read_connection(project, connection=crm, connector=connector, entities=ENTITIES, session=session,
                               base_url=base, store="crmsync.duckdb", **more)
    return read




@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_full_then_incremental_then_full_refresh(project, fake_crm, crm):
    server = fake_crm(crm, contacts=1200, deals=300, tasks=300, rate_limit=False)
    read = reader(project, crm, server)
    first = read()
    assert first.read == {"contact": 1200, "deal": 300, "task": 300}
    key = KEY[crm]
    assert rows(project, f"select count(*), count(distinct {key}) from raw_{crm}.contact") == [(1200, 1200)]

    touched = requests.post(server.url + "/_fake/touch", json={"entity": NATIVE[crm]["deal"], "count": 7}).json()
    second = read()
    assert second.read == {"contact": 0, "deal": 7, "task": 0}
    ids = {str(t.get("id", t.get("ID"))) for t in touched["touched"]}
    changed = rows(project, f"select {key}, {'name' if crm == 'amocrm' else 'TITLE'} from raw_{crm}.deal "
                            f"where _dlt_load_id = '{second.load_id}'")
    assert {str(r[0]) for r in changed} == ids
    assert read().read == {"contact": 0, "deal": 0, "task": 0}  # nothing changed: nothing loaded

    again = read(full_refresh=True)
    assert again.read == {"contact": 1200, "deal": 300, "task": 300}
    assert rows(project, f"select count(*) from raw_{crm}.deal") == [(300,)]


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_cursor_resumes_from_the_store_on_a_fresh_machine(project, fake_crm, crm):
    server = fake_crm(crm, contacts=300, deals=10, tasks=10, rate_limit=False)
    read = reader(project, crm, server)
    read()
    shutil.rmtree(project.dlt_dir)  # the local pipeline folder is gone; the store still has the state
    requests.post(server.url + "/_fake/touch", json={"entity": NATIVE[crm]["contact"], "count": 3})
    assert read().read == {"contact": 3, "deal": 0, "task": 0}


def test_the_listing_starts_before_dlt_from_the_cursor_dlt_holds(project, fake_crm):
    server = fake_crm("amocrm", contacts=300, deals=0, tasks=0, rate_limit=False)
    read = reader(project, "amocrm", server)
    read()
    held = held_resources(project.dlt_dir, "amocrm", "amocrm")["contact"]["incremental"]["updated_at"]
    assert held["last_value"] == rows(project, "SELECT max(updated_at) FROM raw_amocrm.contact")[0][0]
    requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "count": 3})
    before = server.stats.by_route["GET /api/v4/contacts"]
    assert read().read["contact"] == 3
    # the probe's page, then the read's one page: the stream started before dlt was not started over
    assert server.stats.by_route["GET /api/v4/contacts"] - before == 2


def test_a_long_read_loads_in_rounds_and_moves_the_cursor_only_at_the_end(project, fake_crm, monkeypatch):
    monkeypatch.setenv("CRMSYNC_READ_ROUND_RECORDS", "500")
    server = fake_crm("amocrm", contacts=1600, deals=0, tasks=0, rate_limit=False)
    read = reader(project, "amocrm", server)
    seen = []

    def stop_after_two(result):  # a run that dies after its second round
        seen.append((result.rounds, dict(result.read)))
        if result.rounds == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        read(on_round=stop_after_two)
    assert seen == [(1, {"contact": 500, "deal": 0, "task": 0}), (2, {"contact": 1000, "deal": 0, "task": 0})]
    assert rows(project, "SELECT count(*) FROM raw_amocrm.contact")[0][0] == 1000  # two rounds loaded...
    again = read()  # ...but the cursor did not move: everything is read again, nothing twice
    assert again.rounds == 4 and again.read["contact"] == 1600
    assert rows(project, "SELECT count(*), count(DISTINCT id) FROM raw_amocrm.contact")[0] == (1600, 1600)
    requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "count": 3})
    assert read().read["contact"] == 3  # and now it has moved: only the changes


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_faults_give_the_same_result_as_a_clean_run(project, fake_crm, crm):
    faults = ["429:0.1", "503:0.1", "500:0.05", "drop:0.05", "truncate:0.05"]
    server = fake_crm(crm, contacts=900, deals=100, tasks=100, rate_limit=False, faults=faults, fault_seed=3)
    read = reader(project, crm, server, sleep=lambda _: None)
    assert read().read == {"contact": 900, "deal": 100, "task": 100}
    assert sum(server.faults.injected.values()) > 0


def test_real_rate_limits_are_never_hit(project, fake_crm):
    # AmoCRM at its real 7 requests/s: 1,000 contacts = 4 full pages + the 204 after them.
    server = fake_crm("amocrm", contacts=1000, deals=250, tasks=10)
    read = reader(project, "amocrm", server, paced=True)
    assert read().read == {"contact": 1000, "deal": 250, "task": 10}
    assert server.stats.by_status.get(429, 0) == 0 and server.app.rate_limited == 0


@pytest.mark.parametrize(("contacts", "pages"), [(300, 2), (250, 2), (0, 1)])
def test_amocrm_reads_stop_on_a_short_page_without_asking_for_the_next(project, fake_crm, contacts, pages):
    server = fake_crm("amocrm", contacts=contacts, deals=0, tasks=0, rate_limit=False)
    connector, session, base = fake_session(project, "amocrm", server)
    read = read_connection(project, connection="amocrm", connector=connector, entities=["contact"], session=session,
                           base_url=base, store="crmsync.duckdb")
    assert read.read["contact"] == contacts
    # 300 = a full page and a short one; 250 = a full page, then AmoCRM's empty 204; 0 = the 204 alone
    assert server.stats.by_route["GET /api/v4/contacts"] == pages
