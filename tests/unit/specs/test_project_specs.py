import pytest

from crmsync.specs.models import Connector, Pipeline
from crmsync.specs.project_specs import load_specs
from tests.unit.specs.project_fixture import edit, make_project


@pytest.fixture()
def project(tmp_path):
    return make_project(tmp_path / "p")


def texts(project, **kwargs):
    return [str(p) for p in load_specs(project, **kwargs).problems]


def test_the_copy_of_the_builtin_project_is_clean_and_typed(project):
    specs = load_specs(project)
    assert specs.problems == []
    assert set(specs.connectors) == {"amocrm", "bitrix24", "hubspot"} and set(specs.pipelines) == {"amocrm", "bitrix24",
                                                                                                  "hubspot"}
    amo, b24 = specs.connectors["amocrm"], specs.connectors["bitrix24"]
    assert isinstance(amo, Connector) and amo.auth_kinds() == ["long_lived_token", "oauth2"]
    assert b24.paginator.type == "keyset_batch" and {"page_size": 50, "commands_per_batch": 50,
                                                     "batch_method": "batch"}.items() <= b24.paginator.options.items()
    # merge keys resolved: the deal's create inherits batch_size from the contact's anchor
    assert amo.entities["deal"].create == {"type": "array", "method": "POST", "path": "api/v4/leads",
                                           "batch_size": 250, "results": "_embedded.leads",
                                           "match_by": "request_id", "refusals": {
                                               "records": "validation-errors", "match": "request_id",
                                               "errors": "errors", "gone": {"code": "NotFound", "path": "id"}}}
    assert amo.errors[1].status == (429, 500, 502, 503, 504) and amo.errors[1].action == "retry"
    pipe = specs.pipelines["amocrm"]
    assert isinstance(pipe, Pipeline) and pipe.entities == ("contact", "deal", "task")
    assert pipe.conflicts.policy("deal", "amount") == "manual"
    assert pipe.conflicts.policy("deal", "title") == "newest_wins"
    assert {("amocrm", "deal"), ("bitrix24", "task")} <= set(specs.mappings)
    assert "connectors/amocrm.yaml" in specs.files and "config/config.toml" in specs.files


def test_yaml_syntax_error_is_one_problem_and_the_rest_still_load(project):
    line = edit(project, "connectors/bitrix24.yaml", "  burst: 50", "  burst: 50: 60")
    specs = load_specs(project)
    assert [str(p) for p in specs.problems] == [
        f"connectors/bitrix24.yaml:{line}: not valid YAML: mapping values are not allowed here"]
    assert set(specs.connectors) == {"amocrm", "hubspot"}


def test_duplicate_key(project):
    edit(project, "pipelines/amocrm.yaml", "direction: both", "direction: both\ndirection: pull")
    assert texts(project) == [
        "pipelines/amocrm.yaml:7: direction: key 'direction' is given twice (first on line 6)"]


def test_schema_problems_unknown_key_discriminator_enum_missing(project):
    pages = edit(project, "connectors/amocrm.yaml", "  type: page_number", "  type: pages")
    inc = edit(project, "connectors/amocrm.yaml", "    incremental: &incremental", "    incremetal: &incremental")
    edit(project, "pipelines/amocrm.yaml", "direction: both", "direction: puhs")
    edit(project, "pipelines/amocrm.yaml", "connection: amocrm", "")
    assert texts(project) == [
        f"connectors/amocrm.yaml:{pages}: paginator.type: 'pages' is not one of the known types "
        "(allowed: cursor, keyset_batch, next_url, offset, page_number)",
        f"connectors/amocrm.yaml:{inc}: entities.contact.incremetal: unknown field (did you mean 'incremental'?) "
        "(allowed: associations, create, delete, deletes, get, incremental, links, list, read_back, recover, update)",
        "pipelines/amocrm.yaml:2: (top level): missing required field 'connection'",
        "pipelines/amocrm.yaml:6: direction: 'puhs' is not allowed (did you mean 'push'?) "
        "(allowed: pull, push, both)",
    ]


def test_rest_or_rpc_calls(project):
    get = edit(project, "connectors/bitrix24.yaml", "get: {method: crm.contact.get}", "get: {params: {a: 1}}")
    deal = edit(project, "connectors/bitrix24.yaml", "get: {method: crm.deal.get}", "get: {method: GET}")
    patch = edit(project, "connectors/amocrm.yaml", "method: PATCH", "method: crm.contact.update")
    assert texts(project) == [
        f"connectors/amocrm.yaml:{patch}: entities.contact.update.method: 'crm.contact.update' is not allowed "
        "(allowed: POST, PATCH, PUT, DELETE)",
        f"connectors/amocrm.yaml:{patch}: entities.deal.update.method: 'crm.contact.update' is not allowed "
        "(allowed: POST, PATCH, PUT, DELETE)",
        f"connectors/amocrm.yaml:{patch}: entities.task.update.method: 'crm.contact.update' is not allowed "
        "(allowed: POST, PATCH, PUT, DELETE)",
        f"connectors/bitrix24.yaml:{get}: entities.contact.get: needs one of the fields 'path' or 'method'",
        f"connectors/bitrix24.yaml:{deal}: entities.deal.get.method: 'GET' does not have the expected form: "
        "an RPC method name such as crm.contact.list",
    ]


def test_names_must_match_files(project):
    line = edit(project, "connectors/amocrm.yaml", "name: amocrm", "name: kommo")
    edit(project, "pipelines/bitrix24.yaml", "name: bitrix24", "name: b24")
    assert texts(project) == [
        f"connectors/amocrm.yaml:{line}: name: 'kommo' must equal the file name 'amocrm'",
        "pipelines/bitrix24.yaml:2: name: 'b24' must equal the file name 'bitrix24'",
    ]


def test_pipeline_references_with_did_you_mean(project):
    edit(project, "pipelines/amocrm.yaml", "crm: amocrm", "crm: amocmr")
    edit(project, "pipelines/bitrix24.yaml", "entities: [contact, deal, task]", "entities: [contact, deals, task]")
    (project.mappings_dir / "bitrix24" / "task.yaml").unlink()
    edit(project, "pipelines/bitrix24.yaml", "deal.amount: manual", "deal.amout: manual, tasks.title: crm_wins")
    got = texts(project)
    assert got[0] == ("pipelines/amocrm.yaml:3: crm: there is no connector 'amocmr' in connectors/ "
                      "(did you mean 'amocrm'?) (allowed: amocrm, bitrix24, hubspot)")
    assert got[1] == ("pipelines/bitrix24.yaml:5: entities[1]: connector 'bitrix24' defines no entity 'deals' "
                      "(did you mean 'deal'?) (allowed: contact, deal, task)")
    assert got[2] == "pipelines/bitrix24.yaml:5: entities[2]: 'task' has no mapping: create mappings/bitrix24/task.yaml"
    assert got[3].startswith("pipelines/bitrix24.yaml:11: conflicts.fields.deal.amout: canonical 'deal' has no "
                             "field 'amout' (did you mean 'amount'?) (allowed: ")
    assert got[4] == ("pipelines/bitrix24.yaml:11: conflicts.fields.deal.amout: this pipeline does not sync 'deal' "
                      "(allowed: contact, deals, task)")
    assert got[5] == ("pipelines/bitrix24.yaml:11: conflicts.fields.tasks.title: there is no canonical entity "
                      "'tasks' (did you mean 'task'?) (allowed: contact, deal, task)")
    assert len(got) == 6


def test_mapping_places_are_checked(project):
    mappings = project.root / "mappings"
    (mappings / "amocrm" / "deal.yaml").rename(mappings / "amocrm" / "deals.yaml")
    (mappings / "bitrix24").rename(mappings / "bitrix")
    (mappings / "amocrm" / "contact.yaml").write_text("crm: amocrm\nentity: deal\nsource: contact\n")
    got = texts(project)
    for expected in [
        "mappings/amocrm/contact.yaml:2: entity: 'deal' does not match the file's place "
        "mappings/amocrm/contact.yaml (expected 'contact')",
        "mappings/amocrm/deals.yaml: there is no canonical entity 'deals' (mappings/canonical/deals.schema.json) "
        "(did you mean 'deal'?) (allowed: contact, deal, task)",
        "mappings/bitrix/: there is no connector 'bitrix' (connectors/bitrix.yaml) (did you mean 'bitrix24'?) "
        "(allowed: amocrm, bitrix24, hubspot)",
        "pipelines/amocrm.yaml:5: entities[1]: 'deal' has no mapping: create mappings/amocrm/deal.yaml",
    ]:
        assert expected in got


def test_every_mapping_file_goes_through_the_mapping_check(project):
    calls = []

    def fake_check(data, *, file, canonical, connector):
        calls.append((file, sorted(canonical), connector["name"]))
        return []

    assert load_specs(project, mapping_check=fake_check).problems == []
    assert sorted(c[0] for c in calls) == [f"mappings/{crm}/{e}.yaml" for crm in ("amocrm", "bitrix24", "hubspot")
                                           for e in ("contact", "deal", "task")]
    assert all(c[1] == ["contact", "deal", "task"] and c[2] == c[0].split("/")[1] for c in calls)


def test_problems_from_several_files_in_one_run(project):
    skip = edit(project, "connectors/amocrm.yaml", "action: fail_record", "action: skip")
    edit(project, "pipelines/bitrix24.yaml", "write_mode: upsert", "write_mode: upsret")
    (project.root / "mappings" / "canonical" / "task.schema.json").write_text('{"type": "object",\n "x": }')
    (project.config_dir / "config.toml").write_text("[runtime\n")
    got = texts(project)
    assert got == [
        "config/config.toml:1: not valid TOML: Expected ']' at the end of a table declaration",
        f"connectors/amocrm.yaml:{skip}: errors[4].action: 'skip' is not allowed "
        "(allowed: retry, refresh_token, fail_record, fail_run)",
        "mappings/canonical/task.schema.json:2: not valid JSON: Expecting value",
        "pipelines/bitrix24.yaml:12: write_mode: 'upsret' is not allowed (did you mean 'upsert'?) "
        "(allowed: upsert, update_only, insert_only)",
    ]


def test_stray_yml_and_bad_canonical_schema(project):
    (project.pipelines_dir / "nightly.yml").write_text("name: nightly\n")
    (project.root / "mappings" / "canonical" / "deal.schema.json").write_text('{"type": "thing"}')
    got = texts(project)
    assert "pipelines/nightly.yml: spec files end in .yaml: rename it to nightly.yaml" in got
    assert any(t.startswith("mappings/canonical/deal.schema.json:1: type: ") for t in got)


def test_hard_deletes_need_a_delete_call_for_every_entity(project):
    line = edit(project, "pipelines/amocrm.yaml", "deletes: soft", "deletes: hard")
    assert texts(project) == [
        f"pipelines/amocrm.yaml:{line}: deletes: 'hard' sends local deletions to the CRM, but connector 'amocrm' "
        "cannot delete 'contact', 'deal', 'task' (its entities have no 'delete' call); use soft to keep deletions "
        "local, or sync only entities it can delete (allowed: soft, never)"]
    edit(project, "pipelines/bitrix24.yaml", "deletes: soft", "deletes: hard")  # Bitrix24 deletes all three
    assert len(texts(project)) == 1


def test_links_as_a_list_and_written_associations_are_checked_with_their_lines(project):
    specs = load_specs(project)
    task = specs.connectors["hubspot"].entities["task"]
    assert [b["into"] for b in task.links] == ["contact_ids", "deal_ids"]
    assert [b["field"] for b in task.associations] == ["contact_ids", "deal_ids"]
    typo = edit(project, "connectors/hubspot.yaml", "into: deal_ids}", "intoo: deal_ids}")
    unread = edit(project, "connectors/hubspot.yaml", "      - field: deal_ids", "      - field: deal_idz")
    assert texts(project) == [
        f"connectors/hubspot.yaml:{typo}: entities.task.links[1].intoo: unknown field (did you mean 'into'?) "
        "(allowed: from_id, id_key, inputs_key, into, path, records, size, to, to_id)"]
    edit(project, "connectors/hubspot.yaml", "intoo: deal_ids}", "into: deal_ids}")
    assert texts(project) == [
        f"connectors/hubspot.yaml:{unread}: entities.task.associations[1].field: 'deal_idz' is read by no REST "
        "`links` entry of task (their `into`: 'contact_ids', 'deal_ids'): push reads the current links there to "
        "know which to add and which to remove"]
