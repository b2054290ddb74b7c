"""How writers read the CRM's replies: a record that is gone, and multi-field lists that replace."""

from pathlib import Path

import yaml

from crmsync.push.writers_rest import _validation_errors
from crmsync.push.writers_rpc import _not_found, _replacing

ROOT = Path(__file__).resolve().parents[3]


class Reply:
    def __init__(self, body):
        self.body = body

    def json(self):
        return self.body


def test_bitrix24_ways_of_saying_not_found():
    assert _not_found({"error": "", "error_description": "Not found"})
    assert _not_found({"error": "NOT_FOUND", "error_description": "Item not found"})
    # tasks say it their own way; the connector lists that text for task writes only
    connector = yaml.safe_load((ROOT / "connectors" / "bitrix24.yaml").read_text())
    task_gone = connector["entities"]["task"]["update"]["gone"]
    assert _not_found({"error": "ERROR_CORE", "error_description": "Task not found or not accessible<br>"}, task_gone)
    assert not _not_found({"error": "ERROR_CORE", "error_description": "Task not found or not accessible<br>"})
    assert not _not_found({"error": "", "error_description": "ID is not defined or invalid."})


def test_amocrm_not_found_only_when_the_id_itself_is_missing():
    reasons, gone, paths = _validation_errors(Reply({"validation-errors": [
        {"request_id": "a", "errors": [{"code": "NotFound", "path": "id", "detail": "Entity 5 not found."}]},
        {"request_id": "b", "errors": [{"code": "NotFound", "path": "entity_id", "detail": "Entity 9 not found."}]},
    ]}))
    assert set(reasons) == {"a", "b"} and gone == {"a"}
    assert paths == {"a": ("id",), "b": ("entity_id",)}  # where each refusal points, to name the field


def test_a_written_entry_list_drops_what_the_record_has_now():
    now = {"PHONE": [{"ID": "1", "VALUE": "+7900"}, {"ID": "2", "VALUE": "+7901"}], "CONTACT_IDS": [5]}
    fields = {"PHONE": [], "EMAIL": [{"VALUE": "a@b.ru"}], "CONTACT_IDS": [6], "NAME": "X"}
    assert _replacing(fields, now) == {"PHONE": [{"ID": "1", "DELETE": "Y"}, {"ID": "2", "DELETE": "Y"}]}
    kept = _replacing({"PHONE": [{"ID": "2", "VALUE": "+7902"}]}, now)  # an entry named by ID is changed, not dropped
    assert kept == {"PHONE": [{"ID": "1", "DELETE": "Y"}, {"ID": "2", "VALUE": "+7902"}]}
