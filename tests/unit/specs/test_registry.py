import pytest

from crmsync.errors import CrmsyncError
from crmsync.specs import registry
from crmsync.specs.schema_check import check
from crmsync.specs.schemas import load_schema
from crmsync.specs.yamlload import loads


def test_the_declarative_paginators_are_branches_of_the_schema():
    branches = load_schema("connector")["$defs"]["paginator"]["oneOf"]
    names = [b["properties"]["type"]["const"] for b in branches]
    assert names == ["page_number", "offset", "cursor", "next_url", "keyset_batch"]
    assert registry.block_types("paginator") == {}  # the shipped connectors need no paginator in code


def test_a_registered_type_validates_like_a_builtin(monkeypatch):
    monkeypatch.setattr(registry, "_TYPES", {k: dict(v) for k, v in registry._TYPES.items()})
    registry.register_block_type("paginator", "cursor_token", description="Opaque next-page tokens.",
                                 properties={"token_path": {"type": "string", "description": "Where."}},
                                 required=["token_path"])
    schema = {"type": "object", "properties": {"paginator": {"$ref": "#/$defs/paginator"}},
              "$defs": load_schema("connector")["$defs"]}
    got = [str(p) for p in check(loads("paginator:\n  type: cursor_token\n  token: x\n", "c.yaml"), schema, "c.yaml")]
    assert got == ["c.yaml:1: paginator: missing required field 'token_path'",
                   "c.yaml:3: paginator.token: unknown field (did you mean 'token_path'?) (allowed: token_path, type)"]
    with pytest.raises(CrmsyncError, match="already registered"):
        registry.register_block_type("paginator", "cursor_token", description="again")
