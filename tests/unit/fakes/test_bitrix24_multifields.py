"""Bitrix24 multi-field update rules (legacy entry-by-entry, and crm.item ``fm``)."""

import itertools

import pytest

from crmsync.fakes.bitrix24 import multifields
from crmsync.fakes.bitrix24.errors import ApiError


@pytest.fixture
def new_id():
    counter = itertools.count(100)
    return lambda: next(counter)


CURRENT = [
    {"ID": "1", "VALUE_TYPE": "WORK", "VALUE": "+7 1", "TYPE_ID": "PHONE"},
    {"ID": "2", "VALUE_TYPE": "MOBILE", "VALUE": "+7 2", "TYPE_ID": "PHONE"},
    {"ID": "3", "VALUE_TYPE": "HOME", "VALUE": "+7 3", "TYPE_ID": "PHONE"},
    {"ID": "4", "VALUE_TYPE": "OTHER", "VALUE": "+7 4", "TYPE_ID": "PHONE"},
    {"ID": "5", "VALUE_TYPE": "WORK", "VALUE": "+7 5", "TYPE_ID": "PHONE"},
]


def test_legacy_update_rules(new_id):
    out = multifields.update_legacy("PHONE", CURRENT, [
        {"VALUE": "+7 new", "VALUE_TYPE": "MOBILE"},      # no ID: added
        {"ID": "1", "VALUE": "+7 changed"},                # ID + VALUE: changed
        {"ID": 2, "DELETE": "Y"},                          # DELETE: removed
        {"ID": "3", "VALUE": ""},                          # empty VALUE: removed
        {"ID": "4"},                                       # ID alone: removed
    ], new_id)
    assert [(e["ID"], e["VALUE"], e["VALUE_TYPE"]) for e in out] == [
        ("1", "+7 changed", "WORK"), ("5", "+7 5", "WORK"), ("100", "+7 new", "MOBILE")]  # 5 untouched
    assert CURRENT[0]["VALUE"] == "+7 1"  # the input list is not modified


def test_legacy_add_validates_emails(new_id):
    out = multifields.add_legacy("EMAIL", {"0": {"VALUE": " ann@example.com "}}, new_id)
    assert out == [{"ID": "100", "VALUE_TYPE": "WORK", "VALUE": "ann@example.com", "TYPE_ID": "EMAIL"}]
    with pytest.raises(ApiError) as err:
        multifields.add_legacy("EMAIL", [{"VALUE": "not-an-email", "VALUE_TYPE": "WORK"}], new_id)
    assert err.value.code == "ERROR_CORE"
    assert err.value.description == "The field Work e-mail contains an invalid address"


def test_fm_rules(new_id):
    record = {"PHONE": [dict(e) for e in CURRENT[:2]], "EMAIL": []}
    multifields.apply_fm(record, {
        "n0": {"typeId": "EMAIL", "valueType": "HOME", "value": "a@b.cd"},
        "1": {"typeId": "PHONE", "value": "+7 one"},
        "2": {"typeId": "PHONE", "value": ""},
        "n1": {"value": "+7 ignored, no typeId"},
    }, new_id, ("PHONE", "EMAIL"))
    assert [(e["ID"], e["VALUE"]) for e in record["PHONE"]] == [("1", "+7 one")]
    assert record["EMAIL"] == [{"ID": "100", "VALUE_TYPE": "HOME", "VALUE": "a@b.cd", "TYPE_ID": "EMAIL"}]
    assert multifields.to_fm(record)[0] == {"id": 1, "typeId": "PHONE", "valueType": "WORK", "value": "+7 one"}
