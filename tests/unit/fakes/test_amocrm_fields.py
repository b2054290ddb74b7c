"""Custom-field writes of the fake AmoCRM: resolution by id/code, value checks, replace and clear."""

from __future__ import annotations

from crmsync.fakes.amocrm.errors import ItemErrors
from crmsync.fakes.amocrm.fields import Enum, FieldBook, FieldDef


def book() -> FieldBook:
    return FieldBook([
        FieldDef(10, "Телефон", "multitext", "contacts", 1, "PHONE", [Enum(100, "WORK", 2), Enum(101, "MOB", 4)]),
        FieldDef(11, "Источник", "select", "contacts", 2, None, [Enum(110, "Сайт", 2), Enum(111, "Выставка", 4)]),
        FieldDef(12, "Бюджет", "numeric", "contacts", 3),
        FieldDef(13, "Дата", "date", "contacts", 4),
    ])


def apply(current, written):
    errors = ItemErrors("0")
    return book().apply(current, written, errors), errors.errors


def test_code_is_case_insensitive_and_multitext_defaults_to_first_enum():
    out, errs = apply(None, [{"field_code": "phone", "values": [{"value": "+7 900"}, {"value": "1", "enum_id": 101}]}])
    assert errs == []
    assert out[0]["values"] == [{"value": "+7 900", "enum_id": 100, "enum_code": "WORK"},
                                {"value": "1", "enum_id": 101, "enum_code": "MOB"}]


def test_select_by_value_or_enum_id_reads_with_null_enum_code():
    out, _ = apply(None, [{"field_id": 11, "values": [{"value": "Выставка"}]}])
    assert out[0]["values"] == [{"value": "Выставка", "enum_id": 111, "enum_code": None}]
    out, _ = apply(None, [{"field_id": 11, "values": [{"enum_id": 110}]}])
    assert out[0]["values"][0]["value"] == "Сайт"


def test_numbers_read_as_strings_dates_as_ints():
    out, errs = apply(None, [{"field_id": 12, "values": [{"value": 1500.0}]},
                             {"field_id": 13, "values": [{"value": "946684800"}]}])
    assert errs == [] and out[0]["values"] == [{"value": "1500"}] and out[1]["values"] == [{"value": 946684800}]


def test_replace_clear_and_untouched_fields_keep_account_order():
    current, _ = apply(None, [{"field_id": 12, "values": [{"value": 1}]},
                              {"field_code": "PHONE", "values": [{"value": "a"}, {"value": "b"}]}])
    assert [e["field_id"] for e in current] == [10, 12]
    out, _ = apply(current, [{"field_code": "PHONE", "values": [{"value": "c"}]}])
    assert [v["value"] for v in out[0]["values"]] == ["c"] and out[1]["field_id"] == 12
    out, _ = apply(out, [{"field_id": 12, "values": None}, {"field_code": "PHONE", "values": None}])
    assert out is None


def test_errors_name_the_dotted_path():
    _, errs = apply(None, [{"field_id": 99, "values": []}, {"field_code": "NOPE", "values": []},
                           {"field_id": 11, "values": [{"enum_id": 5}]}, {"field_id": 12, "values": [{"value": "x"}]},
                           {"field_id": "12", "values": []}, {"field_id": 13, "values": [{"value": "2020-01-01"}]}])
    assert [(e["code"], e["path"]) for e in errs] == [
        ("NotSupportedChoice", "custom_fields_values.0.field_id"),
        ("NotSupportedChoice", "custom_fields_values.1.field_code"),
        ("NotSupportedChoice", "custom_fields_values.2.values.0.enum_id"),
        ("InvalidType", "custom_fields_values.3.values.0.value"),
        ("InvalidType", "custom_fields_values.4.field_id"),
        ("InvalidType", "custom_fields_values.5.values.0.value"),
    ]
    _, errs = apply(None, {"field_id": 12})
    assert errs[0]["path"] == "custom_fields_values" and errs[0]["detail"] == "This value should be of type array."
