"""crmsync validate catches at rest what a push would otherwise find at run time: a writer without the
keys it needs, an entity that writes but cannot read back or recover, an unknown writer type."""

import pytest

from crmsync.specs.project_specs import load_specs
from tests.unit.specs.project_fixture import edit, make_project


@pytest.fixture()
def project(tmp_path):
    return make_project(tmp_path / "p")


def texts(project):
    return [str(p) for p in load_specs(project).problems]


def test_an_entity_that_writes_must_say_how_to_read_back_and_recover(project):
    line = edit(project, "connectors/amocrm.yaml", "    read_back: &read_back", "    x-read-back: &read_back")
    edit(project, "connectors/amocrm.yaml", "    recover: &recover", "    x-recover: &recover")
    got = texts(project)
    assert any("entities.contact: 'read_back' is a dependency of 'create'" in t for t in got), got
    assert any("entities.contact: 'recover' is a dependency of 'create'" in t for t in got), got
    assert any(f"connectors/amocrm.yaml:{line}: entities.contact.x-read-back: unknown field" in t for t in got), got


def test_a_writer_type_must_be_known_and_have_its_keys(project):
    line = edit(project, "connectors/amocrm.yaml", "      type: array                  # up to 250",
                "      type: arrays                 # up to 250")
    got = texts(project)
    assert any(f"connectors/amocrm.yaml:{line}: entities.contact.create.type: 'arrays' is not one of the known types"
               in t and "array, batch, rest, rpc_batch" in t for t in got), got
    edit(project, "connectors/amocrm.yaml", "      type: arrays                 # up to 250", "      type: rest  #")
    edit(project, "connectors/amocrm.yaml", "      path: api/v4/contacts\n      batch_size: 250",
         "      batch_size: 250")
    assert any("entities.contact.create: missing required field 'path'" in t for t in texts(project))
