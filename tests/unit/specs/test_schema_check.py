from crmsync.specs.schema_check import check
from crmsync.specs.yamlload import loads

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "paginator"],
    "properties": {
        "name": {"type": "string"},
        "mode": {"enum": ["pull", "push", "both"]},
        "paginator": {"oneOf": [
            {"type": "object", "additionalProperties": False, "required": ["type"],
             "properties": {"type": {"const": "page_number"}, "size": {"type": "integer"}}},
            {"type": "object", "additionalProperties": False, "required": ["type", "path"],
             "properties": {"type": {"const": "cursor"}, "path": {"type": "string"}}},
        ]},
    },
}


def problems(text):
    return [str(p) for p in check(loads(text, "c.yaml"), SCHEMA, "c.yaml")]


def test_discriminator_first():
    assert problems("name: x\npaginator:\n  type: pages\n") == [
        "c.yaml:3: paginator.type: 'pages' is not one of the known types (allowed: cursor, page_number)"]
    assert problems("name: x\npaginator:\n  type: cursor\n  size: 3\n") == [
        "c.yaml:2: paginator: missing required field 'path'",
        "c.yaml:4: paginator.size: unknown field (allowed: path, type)"]


def test_unknown_key_enum_type_and_required_all_reported_with_lines():
    got = problems("nmae: x\nmode: puhs\npaginator:\n  type: page_number\n  size: many\n")
    assert got == [
        "c.yaml:1: (top level): missing required field 'name'",
        "c.yaml:1: nmae: unknown field (did you mean 'name'?) (allowed: mode, name, paginator)",
        "c.yaml:2: mode: 'puhs' is not allowed (did you mean 'push'?) (allowed: pull, push, both)",
        "c.yaml:5: paginator.size: expected a whole number, got the text 'many'",
    ]


def test_alternatives_and_key_patterns():
    schema = {"type": "object", "properties": {
        "call": {"type": "object", "anyOf": [{"required": ["path"]}, {"required": ["method"]}],
                 "properties": {"path": {}, "method": {}}},
        "fields": {"type": "object", "propertyNames": {
            "pattern": "^[a-z]+$", "description": "lowercase names, e.g. amount. More text."}}}}
    got = [str(p) for p in check(loads("call: {}\nfields:\n  ok: 1\n  Bad: 2\n", "c.yaml"), schema, "c.yaml")]
    assert got == ["c.yaml:1: call: needs one of the fields 'path' or 'method'",
                   "c.yaml:4: fields.Bad: 'Bad' does not have the expected form: lowercase names, e.g. amount"]
