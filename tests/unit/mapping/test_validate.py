"""validate_mapping: every problem of a mapping file, with line, path, what is wrong and what is allowed."""

from __future__ import annotations

import pytest

from crmsync.mapping import validate_mapping
from crmsync.specs.yamlload import loads

from .helpers import PAIRS, canonical, connector, mapping_path

HEAD = "crm: amocrm\nentity: contact\nsource: contact\nfields:\n"


def problems(text: str) -> list[str]:
    data = loads(text, "m.yaml")
    return [str(p) for p in validate_mapping(data, file="m.yaml", canonical=canonical(), connector=connector("amocrm"))]


@pytest.mark.parametrize("crm,entity", PAIRS)
def test_the_shipped_mappings_are_clean(crm: str, entity: str) -> None:
    path = mapping_path(crm, entity)
    data = loads(path.read_text(encoding="utf-8"), path.name)
    assert validate_mapping(data, file=path.name, canonical=canonical(), connector=connector(crm)) == []


def test_a_both_field_with_a_transform_without_inverse_must_be_pull() -> None:
    assert problems(HEAD + "  name: {from: [first_name, last_name], transforms: [{type: join}]}\n") == [
        "m.yaml:5: fields.name.transforms[0]: transform 'join' has no inverse: set direction: pull"]
    pulled = "  name: {from: [first_name, last_name], transforms: [{type: join}], direction: pull}\n"
    assert problems(HEAD + pulled) == []


def test_an_unknown_transform_says_which_exist() -> None:
    (problem,) = problems(HEAD + "  first_name: {from: first_name, transforms: [{type: txt}]}\n")
    assert problem.startswith("m.yaml:5: fields.first_name.transforms[0].type: unknown transform 'txt' "
                              "(did you mean 'text'?) (allowed: cf_enum, cf_enums, cf_value, company, contact_points, "
                              "contact_properties, crm_binding,")


def test_transform_parameters_are_checked_against_the_transform() -> None:
    assert problems(HEAD + "  custom.budget:\n    from: {custom_field: {name: Бюджет}}\n"
                           "    transforms: [{type: cf_value}, {type: number, place: 2, write_as: float}]\n") == [
        "m.yaml:7: fields.custom.budget.transforms[1].place: unknown field (did you mean 'places'?) "
        "(allowed: places, type, write_as)",
        "m.yaml:7: fields.custom.budget.transforms[1].write_as: 'float' is not allowed "
        "(allowed: number, integer, string)",
    ]
    assert problems(HEAD + "  phones: {from: PHONE, transforms: [{type: multifield}]}\n") == [
        "m.yaml:5: fields.phones.transforms[0]: missing required field 'kinds'"]


def test_canonical_field_names_are_checked_with_a_suggestion() -> None:
    assert problems(HEAD + "  firstname: first_name\n  custom: x\n  phones.work: y\n") == [
        "m.yaml:5: fields.firstname: contact has no field 'firstname' (did you mean 'first_name'?) "
        "(allowed: company, created_at, custom, emails, first_name, last_name, middle_name, name, owner, phones, "
        "position, updated_at)",
        "m.yaml:6: fields.custom: map custom values one by one, as custom.<name>",
        "m.yaml:7: fields.phones.work: only custom values take a dotted name (custom.<name>)",
    ]


def test_entity_crm_and_source_are_checked_against_the_other_files() -> None:
    entities = ", ".join(sorted(connector("amocrm")["entities"]))
    text = "crm: bitrix\nentity: contacts\nsource: lead\nfields:\n  name: name\n"
    assert problems(text) == [
        "m.yaml:1: crm: 'bitrix' does not match the connector 'amocrm'",
        "m.yaml:2: entity: no canonical entity 'contacts' (did you mean 'contact'?) (allowed: contact, deal, task)",
        f"m.yaml:3: source: connector 'amocrm' has no entity 'lead' (allowed: {entities})",
    ]


def test_schema_problems_come_with_line_and_allowed_values() -> None:
    assert problems(HEAD + "  name: {from: name, direction: both_ways, trasforms: []}\n") == [
        "m.yaml:5: fields.name.direction: 'both_ways' is not allowed (did you mean 'both'?) "
        "(allowed: both, pull, push)",
        "m.yaml:5: fields.name.trasforms: unknown field (did you mean 'transforms'?) "
        "(allowed: description, direction, from, limits, to, transforms)",
    ]


def test_a_custom_field_transform_needs_a_custom_field_source() -> None:
    assert problems(HEAD + "  custom.source: {from: source, transforms: [{type: cf_enum}]}\n") == [
        "m.yaml:5: fields.custom.source.transforms[0]: transform 'cf_enum' reads a custom field: "
        "use from: {custom_field: …}"]


def test_anchors_live_under_x_keys() -> None:
    text = HEAD.replace("fields:", "x-t: &t [{type: text}]\nfields:") + "  name: {from: name, transforms: *t}\n"
    assert problems(text) == []
