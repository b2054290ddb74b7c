"""The schemas are the docs, Python types mirror them, registries list what they know."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from crmsync.mapping import (
    FieldCatalog,
    Mapper,
    MappingError,
    Transform,
    UnknownTransform,
    get_transform,
    parse_mapping,
    register_transform,
    transform_names,
)
from crmsync.mapping.canonical import CanonicalCheck
from crmsync.mapping.catalog import CustomField
from crmsync.mapping.spec import FieldSpec, MappingSpec, mapping_schema
from crmsync.specs.yamlload import loads

from .helpers import canonical, golden, golden_files, golden_id, metadata


def _undocumented(schema: Any, path: str = "") -> list[str]:
    out = []
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and "description" not in sub and "$ref" not in sub:
                out.append(f"{path}.{name}")
        for key, sub in schema.items():
            out += _undocumented(sub, f"{path}.{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            out += _undocumented(sub, f"{path}[{i}]")
    return out


@pytest.mark.parametrize("entity", ["contact", "deal", "task"])
def test_canonical_schemas_are_valid_and_every_property_is_documented(entity: str) -> None:
    schema = canonical()[entity]
    Draft202012Validator.check_schema(schema)
    assert _undocumented(schema) == []
    assert schema["description"]


def test_the_mapping_schema_is_valid_and_documented() -> None:
    Draft202012Validator.check_schema(mapping_schema())
    assert _undocumented(mapping_schema()) == []


def test_python_types_mirror_the_mapping_schema() -> None:
    top = set(mapping_schema()["properties"]) - {"defaults"}
    assert top == {f.name for f in dataclasses.fields(MappingSpec)} - {"file"}
    field_keys = set(mapping_schema()["$defs"]["field"]["properties"])
    python = {f.name for f in dataclasses.fields(FieldSpec)} - {"name"}
    assert {{"from": "source", "to": "target"}.get(k, k) for k in field_keys} == python


@pytest.mark.parametrize("name", transform_names())
def test_every_transform_has_a_valid_documented_params_schema(name: str) -> None:
    cls = get_transform(name)
    Draft202012Validator.check_schema(cls.params_schema())
    assert cls.summary
    assert all("description" in p for p in cls.params.values()), name


def test_unknown_transform_lists_the_known_ones() -> None:
    with pytest.raises(UnknownTransform) as caught:
        get_transform("nope")
    assert str(caught.value).startswith("unknown transform 'nope'; known: cf_enum, cf_enums, cf_value,")


def test_a_plugin_transform_registers_like_a_builtin() -> None:
    class Shout(Transform):
        summary = "upper-case text"

        def forward(self, value: Any, ctx: Any) -> Any:
            return str(value).upper()

        def inverse(self, value: Any, ctx: Any) -> Any:
            return str(value).lower()

    register_transform("test_shout", Shout)
    try:
        spec = parse_mapping(loads("crm: bitrix24\nentity: contact\nsource: contact\nfields:\n"
                                   "  first_name: {from: NAME, transforms: [{type: test_shout}]}\n"))
        m = Mapper(spec, FieldCatalog("bitrix24", "contact"))
        assert m.pull({"NAME": "ann"}) == {"first_name": "ANN"}
        assert m.push({"first_name": "ANN"}) == {"NAME": "ann"}
    finally:
        from crmsync.mapping import registry
        registry._TRANSFORMS.pop("test_shout")


def test_custom_fields_resolve_by_code_name_or_id_and_explain_misses() -> None:
    catalog = FieldCatalog("amocrm", "contact", [CustomField(1, "Источник", None), CustomField(2, "Phone", "PHONE"),
                                                 CustomField(3, "Dup"), CustomField(4, "Dup")])
    assert catalog.find_field({"code": "phone"}).id == 2
    assert catalog.find_field({"name": "Источник"}).id == 1
    assert catalog.find_field({"id": "1"}).id == 1
    with pytest.raises(LookupError, match=r"no custom field with name 'Источнк' among the amocrm contact custom "
                                          r"fields \(did you mean 'Источник'\?\) \(known: Dup, Phone, Источник\)"):
        catalog.find_field({"name": "Источнк"})
    with pytest.raises(LookupError, match=r"2 amocrm contact custom fields have name 'Dup' \(ids 3, 4\): refer to"):
        catalog.find_field({"name": "Dup"})


def test_a_mapper_lists_every_custom_field_the_account_lacks() -> None:
    spec = parse_mapping(loads("crm: amocrm\nentity: contact\nsource: contact\nfields:\n"
                               "  custom.a: {from: {custom_field: {name: A}}}\n"
                               "  custom.b: {from: {custom_field: {code: B}}}\n"), "m.yaml")
    with pytest.raises(MappingError) as caught:
        Mapper(spec, FieldCatalog("amocrm", "contact"))
    assert [p.split(":")[0:2] for p in caught.value.problems] == [["m.yaml", " fields.custom.a"],
                                                                   ["m.yaml", " fields.custom.b"]]


@pytest.mark.parametrize("path", golden_files(), ids=golden_id)
def test_the_fast_canonical_check_agrees_with_jsonschema(path: Any) -> None:
    entity = path.parent.name
    check = CanonicalCheck(canonical()[entity])
    assert check._fast is not None
    record = golden(path)["canonical"]
    validator = Draft202012Validator(canonical()[entity])
    variants = [record, {**record, "owner": 5}, {**record, "extra": 1}, {**record, "custom": {"Bad Key": 1}},
                {**record, "created_at": "2025-01-01 10:00"}, {**record, "status": "maybe"},
                {**record, "phones": [{"value": "", "type": "work"}]}, {**record, "related": {"kind": "deal"}}]
    for variant in variants:
        assert check._fast(variant) == validator.is_valid(variant), json.dumps(variant, ensure_ascii=False)[:200]


def test_catalogs_come_from_metadata_without_hard_coded_ids() -> None:
    from crmsync.mapping import build_catalog

    amo = build_catalog("amocrm", metadata("amocrm"), "deal")
    assert {(s.pipeline, s.name, s.status) for s in amo.stages if s.id in (142, 143)} >= {
        ("Продажи", "Успешно реализовано", "won"), ("Partners", "Lost", "lost")}
    b24 = build_catalog("bitrix24", metadata("bitrix24"), "contact")
    source = b24.find_field({"name": "Источник"})
    assert source.id.startswith("UF_CRM_") and source.option_id("Сайт") is not None
    assert b24.user_by_email("ALEKSEY.GROMOV@crm-team.example").id == "1"


def test_a_mapping_needs_the_catalog_parts_its_fields_and_transforms_use() -> None:
    from crmsync.mapping import catalog_needs
    from crmsync.mapping.spec import load_mapping

    from .helpers import mapping_path

    assert catalog_needs(load_mapping(mapping_path("amocrm", "contact"))) == {"custom_fields", "users", "companies"}
    assert catalog_needs(load_mapping(mapping_path("amocrm", "deal"))) >= {"custom_fields", "users", "stages"}
    plain = parse_mapping(loads("crm: amocrm\nentity: task\nsource: task\nfields:\n  text: {from: text}\n"), "m.yaml")
    assert catalog_needs(plain) == set()


def test_a_catalog_refuses_lookups_in_parts_that_were_not_fetched() -> None:
    from crmsync.mapping import build_catalog

    catalog = build_catalog("amocrm", metadata("amocrm"), "contact", parts={"custom_fields"})
    assert catalog.find_field({"code": "PHONE"}).code == "PHONE"
    with pytest.raises(LookupError, match=r"the amocrm users were not fetched for this contact mapping: a transform "
                                          r"that looks them up must say so \(Transform.catalog = \('users',\)\)"):
        catalog.user(1)
    with pytest.raises(LookupError, match="stages were not fetched"):
        catalog.stage(1, 142)
