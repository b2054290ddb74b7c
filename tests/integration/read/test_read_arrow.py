"""Pages go to dlt as Arrow tables, and the raw tables are the ones dlt's record path makes."""

import json
import shutil

import dlt
import pytest
import requests

import crmsync.read.batches as batches
from crmsync.project import Project, builtin_project_dir
from crmsync.read.run import read_connection
from tests.integration.fake_sessions import fake_session
from tests.integration.fake_sessions import store_rows as rows

ENTITIES = ["contact", "deal", "task"]


def read(root, crm, server):
    shutil.copytree(builtin_project_dir() / "connectors", root / "connectors")
    project = Project(root)
    connector, session, base = fake_session(project, crm, server)
    result = read_connection(project, connection=crm, connector=connector, entities=ENTITIES, session=session,
                             base_url=base, store="crmsync.duckdb")
    return project, result


def raw_tables(project, crm):
    """Per entity: the columns with their SQL types, and every row as JSON (as the mapping reads it)."""
    out = {}
    for entity in ENTITIES:
        columns = rows(project, "SELECT column_name, data_type FROM information_schema.columns WHERE "
                                f"table_schema = 'raw_{crm}' AND table_name = '{entity}' ORDER BY 1")
        kept = ", ".join(f'"{c}"' for c, _ in columns if not c.startswith("_dlt_"))
        records = rows(project, f'SELECT to_json(t) FROM (SELECT {kept} FROM raw_{crm}."{entity}") t')
        out[entity] = (columns, sorted(json.dumps(json.loads(r[0]), sort_keys=True) for r in records))
    return out


@pytest.fixture
def tables_made(monkeypatch):
    """How many Arrow tables the read handed to dlt."""
    made = []
    original = batches.arrow_page

    def counting(page, known):
        out = original(page, known)
        if out is not None:
            made.append(out[0].num_rows)
        return out

    monkeypatch.setattr(batches, "arrow_page", counting)
    return made


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_the_raw_tables_are_those_of_dlt_s_record_path(tmp_path, fake_crm, monkeypatch, tables_made, crm):
    server = fake_crm(crm, contacts=700, deals=300, tasks=300, rate_limit=False)
    arrow_project, arrow_read = read(tmp_path / "arrow", crm, server)
    # Every record went as Arrow, but Bitrix24 tasks: their ufCrmTask is `false` or a list, which dlt's
    # record path loads as a BOOLEAN column with a JSON variant beside it.
    assert sum(tables_made) == (1300 if crm == "amocrm" else 1000)
    monkeypatch.setattr(batches, "arrow_page", lambda page, known: None)  # dlt's record path, as before
    records_project, records_read = read(tmp_path / "records", crm, server)

    assert arrow_read.read == records_read.read == {"contact": 700, "deal": 300, "task": 300}
    arrow, records = raw_tables(arrow_project, crm), raw_tables(records_project, crm)
    for entity in ENTITIES:
        assert arrow[entity][0] == records[entity][0], entity  # the same columns with the same types
        assert arrow[entity][1] == records[entity][1], entity  # and the same values, nested ones as JSON
    assert ("custom_fields_values" if crm == "amocrm" else "PHONE", "JSON") in arrow["contact"][0]


def test_a_key_the_crm_starts_sending_becomes_a_column(tmp_path, fake_crm, tables_made):
    server = fake_crm("amocrm", contacts=300, deals=0, tasks=0, rate_limit=False)
    project, _ = read(tmp_path, "amocrm", server)
    contacts = server.app.tables["contacts"].rows
    changed = sorted(contacts)[:3]
    for rid in changed:
        contacts[rid]["loyalty"] = {"tier": "gold", "points": rid}  # as a new API version would add it
    requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "ids": changed})
    tables_made.clear()

    connector, session, base = fake_session(project, "amocrm", server)
    again = read_connection(project, connection="amocrm", connector=connector, entities=ENTITIES, session=session,
                            base_url=base, store="crmsync.duckdb")

    assert again.read["contact"] == 3 and tables_made == [3]
    assert rows(project, "SELECT data_type FROM information_schema.columns WHERE table_schema = 'raw_amocrm' "
                         "AND table_name = 'contact' AND column_name = 'loyalty'") == [("JSON",)]
    loaded = rows(project, "SELECT id, loyalty->>'$.tier', CAST(loyalty->'$.points' AS BIGINT) FROM "
                           "raw_amocrm.contact WHERE loyalty IS NOT NULL ORDER BY id")
    assert loaded == [(rid, "gold", rid) for rid in changed]
    assert rows(project, "SELECT count(*) FROM raw_amocrm.contact") == [(300,)]


def test_a_value_of_another_type_than_its_column_still_lands_beside_it(tmp_path, fake_crm, tables_made):
    """The records path decides what the column cannot hold (dlt's variant column), as it always did."""
    server = fake_crm("amocrm", contacts=50, deals=0, tasks=0, rate_limit=False)
    project, _ = read(tmp_path, "amocrm", server)
    (rid, *_) = sorted(server.app.tables["contacts"].rows)
    server.app.tables["contacts"].rows[rid]["responsible_user_id"] = "not a number"
    requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "ids": [rid]})
    tables_made.clear()

    connector, session, base = fake_session(project, "amocrm", server)
    read_connection(project, connection="amocrm", connector=connector, entities=ENTITIES, session=session,
                    base_url=base, store="crmsync.duckdb")

    assert tables_made == []
    (variant,) = [r[0] for r in rows(project, "SELECT column_name FROM information_schema.columns WHERE "
                                              "table_schema = 'raw_amocrm' AND table_name = 'contact' AND "
                                              "column_name LIKE 'responsible_user_id%' AND "
                                              "column_name <> 'responsible_user_id'")]
    assert rows(project, f'SELECT "{variant}" FROM raw_amocrm.contact WHERE id = ?', [rid]) == [("not a number",)]



def test_a_raw_table_an_earlier_release_made_with_jsonl_still_gets_json(tmp_path, fake_crm, tables_made):
    """Earlier releases ran dlt with ``loader_file_format="jsonl"``, which dlt keeps in the stored schema
    as the table's file format; forced to jsonl, dlt would turn Arrow tables back into rows and write
    their JSON columns as quoted text."""
    server = fake_crm("amocrm", contacts=20, deals=0, tasks=0, rate_limit=False)
    project, _ = read(tmp_path, "amocrm", server)
    pipeline = dlt.pipeline(pipeline_name="crmsync_amocrm", pipelines_dir=str(project.dlt_dir))
    schema = pipeline.schemas["amocrm"]
    schema.tables["contact"]["file_format"] = "jsonl"  # what an earlier release's schema says
    pipeline.schemas.save_schema(schema)
    touched = sorted(server.app.tables["contacts"].rows)[:2]
    requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "ids": touched})
    tables_made.clear()

    connector, session, base = fake_session(project, "amocrm", server)
    read_connection(project, connection="amocrm", connector=connector, entities=ENTITIES, session=session,
                    base_url=base, store="crmsync.duckdb")

    assert tables_made == [2]
    assert rows(project, "SELECT DISTINCT json_type(custom_fields_values), json_type(_links) FROM "
                         "raw_amocrm.contact") == [("ARRAY", "OBJECT")]
