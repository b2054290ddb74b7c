"""Which canonical field a CRM's refusal of a pushed record names, from its path in the payload sent."""

from __future__ import annotations

from .helpers import mapper


def test_an_amocrm_custom_field_entry_is_named_by_the_field_whose_id_it_carries() -> None:
    m = mapper("amocrm", "contact")
    budget = next(b.custom for b in m.fields if b.name == "custom.budget")
    position = next(b.custom for b in m.fields if b.name == "position")
    payload = {"name": "X", "custom_fields_values": [{"field_id": position.id, "values": [{"value": "boss"}]},
                                                     {"field_id": budget.id, "values": [{"value": 5}]}]}
    assert m.field_at(payload, ["custom_fields_values.1.field_id"]) == "custom.budget"
    assert m.field_at(payload, ["custom_fields_values.0.values.0.value"]) == "position"
    assert m.field_at(payload, ["name"]) == "name"
    assert m.field_at(payload, ["responsible_user_id"]) == "owner"
    # the first path that points into a written field wins; the item's own id is no field of ours
    assert m.field_at(payload, ["id", "custom_fields_values.1"]) == "custom.budget"
    assert m.field_at(payload, ["id"]) == ""
    assert m.field_at(payload, ["custom_fields_values.7.field_id"]) == ""  # no entry 7 was sent
    assert m.field_at(payload, []) == ""


def test_a_flat_key_custom_field_is_named_too() -> None:
    m = mapper("bitrix24", "contact")
    custom = [b for b in m.fields if b.custom is not None and b.spec.pushes]
    assert custom, "the bitrix24 contact mapping writes custom fields"
    bound = custom[0]
    assert m.field_at({}, [str(bound.custom.id)]) == bound.name
    assert m.field_at({}, ["NO_SUCH_KEY"]) == ""


def test_paths_with_brackets_are_read_as_dotted() -> None:
    m = mapper("amocrm", "contact")
    budget = next(b.custom for b in m.fields if b.name == "custom.budget")
    payload = {"custom_fields_values": [{"field_id": budget.id, "values": [{"value": 5}]}]}
    assert m.field_at(payload, ["custom_fields_values[0].values[0].value"]) == "custom.budget"
