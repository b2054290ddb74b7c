"""The compiled fast check agrees with jsonschema on the canonical schemas: it never passes a record
jsonschema refuses (it would let a bad record in), and it passes the good ones (else it is not fast)."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from crmsync.mapping import load_canonical
from crmsync.mapping.fastcheck import compile_schema
from crmsync.project import builtin_project_dir

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
ODD_VALUES = [None, True, False, 0, 1, 1.5, "", "x", "a@b.co", [], [{}], [{"value": "x", "type": "work"}],
              [{"value": "", "type": "work"}], [{"value": "x", "type": "pager"}], [{"value": "x"}],
              [{"value": "x", "type": "work", "extra": 1}], {}, {"k": "v"}, {"k": 1}, "2024-01-02T03:04:05Z"]


def _records(entity):
    for path in sorted(GOLDEN.glob(f"*/{entity}/*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(case.get("canonical"), dict):
            yield case["canonical"]


@pytest.mark.parametrize("entity", ["contact", "deal", "task"])
def test_fast_check_agrees_with_jsonschema(entity):
    schema = load_canonical(builtin_project_dir())[entity]
    fast, slow = compile_schema(schema), Draft202012Validator(schema)
    records = list(_records(entity))
    assert records, "golden canonical records to start from"
    checked = 0
    for record in records:
        assert fast(record) and slow.is_valid(record)
        for field in [*schema["properties"], "not_a_field"]:
            for value in ODD_VALUES:
                mutated = copy.deepcopy(record)
                mutated[field] = value
                assert fast(mutated) == slow.is_valid(mutated), (field, value)
                checked += 1
    assert checked > 100
