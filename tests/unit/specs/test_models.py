"""The Python mirrors of the schemas agree with them (the schemas are the source of truth)."""

import dataclasses

import pytest

from crmsync.specs.models import MODELS
from crmsync.specs.schemas import load_schema


def _resolve(kind, pointer):
    node = load_schema(kind)
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node


def _default(f):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_fields_are_the_schema_properties(model):
    schema = _resolve(*model.SCHEMA)
    props = schema["properties"]
    assert {f.name for f in dataclasses.fields(model)} == set(props)
    required = set(schema.get("required", []))
    for f in dataclasses.fields(model):
        default = _default(f)
        assert (default is dataclasses.MISSING) == (f.name in required), f.name
        if "default" in props[f.name] and not dataclasses.is_dataclass(default):
            wanted = props[f.name]["default"]
            got = {"type": default.type, **default.options} if hasattr(default, "options") else default
            assert got == wanted, f.name


def _walk(node, path="#"):
    if isinstance(node, dict):
        for key in ("properties",):
            for name, sub in (node.get(key) or {}).items():
                yield f"{path}/{key}/{name}", sub
        for key, sub in node.items():
            yield from _walk(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _walk(sub, f"{path}/{i}")


@pytest.mark.parametrize("kind", ["connector", "pipeline"])
def test_every_key_is_documented(kind):
    """The descriptions are the user docs: every property has one (directly or on what it refers to)."""
    schema = load_schema(kind)
    defs = schema["$defs"]
    missing = []
    for where, prop in _walk(schema):
        ref = prop.get("$ref", "")
        target = defs.get(ref.rsplit("/", 1)[-1], {}) if ref else {}
        if not (prop.get("description") or target.get("description")):
            missing.append(where)
    assert missing == []
