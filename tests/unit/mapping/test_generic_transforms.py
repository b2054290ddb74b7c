"""The generic transforms a new CRM is mapped with: contact points and references with parameters,
dates without a time, and paths to keys that start with a digit."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.mapping import FieldCatalog, Rejection, get_transform
from crmsync.mapping.context import Context
from crmsync.mapping.paths import MISSING, get_path
from crmsync.mapping.resolver import KeyResolver
from crmsync.mapping.validate import validate_mapping


def ctx_for(direction: str, current: Any = None) -> Context:
    ctx = Context(FieldCatalog("x", "contact"), KeyResolver(), {}, direction)
    ctx.field, ctx.current = "f", current
    return ctx


def both_ways(name: str, raw: Any, **params: Any) -> tuple[Any, Any]:
    transform = get_transform(name)({"type": name, **params})
    canonical = transform.forward(raw, ctx_for("pull"))
    return canonical, transform.inverse(canonical, ctx_for("push"))


def test_contact_points_with_the_entry_keys_as_parameters() -> None:
    raw = [{"number": "+100", "label": "cell"}, {"number": "", "label": "cell"}, {"number": "+200", "label": "desk"}]
    canonical, back = both_ways("contact_points", raw, value_key="number", kind_key="label",
                                kinds={"cell": "mobile", "desk": "work"})
    assert canonical == [{"value": "+100", "type": "mobile"}, {"value": "+200", "type": "work"}]
    assert back == [{"number": "+100", "label": "cell"}, {"number": "+200", "label": "desk"}]


def test_contact_points_unknown_kinds_default_or_set_the_record_aside() -> None:
    transform = get_transform("contact_points")
    assert transform({"kinds": {"a": "work"}, "default": "other"}).forward(
        [{"value": "x", "type": "zz"}], ctx_for("pull")) == [{"value": "x", "type": "other"}]
    with pytest.raises(Rejection, match="kind 'zz' is not mapped"):
        transform({"kinds": {"a": "work"}}).forward([{"value": "x", "type": "zz"}], ctx_for("pull"))


def test_contact_points_that_replace_and_skip_deleted_entries() -> None:
    transform = get_transform("contact_points")({"kinds": {"W": "work"}, "value_key": "V", "kind_key": "T",
                                                 "deleted": {"DEL": "1"}, "replace": {"id": "ID"}})
    assert transform.forward([{"V": "a", "T": "W"}, {"V": "b", "T": "W", "DEL": "1"}], ctx_for("pull")) == [
        {"value": "a", "type": "work"}]
    now = [{"ID": "7", "V": "old", "T": "W"}]
    assert transform.inverse([{"value": "new", "type": "work"}], ctx_for("push", now)) == [
        {"ID": "7", "DEL": "1"}, {"V": "new", "T": "W"}]


def test_empty_contact_points_as_null_when_the_crm_clears_that_way() -> None:
    transform = get_transform("contact_points")
    assert transform({"kinds": {"W": "work"}, "empty_as_null": True}).inverse([], ctx_for("push")) is None
    assert transform({"kinds": {"W": "work"}}).inverse([], ctx_for("push")) == []


@pytest.mark.parametrize(("params", "raw"), [
    ({"shape": "pair"}, ["deals", "10"]),
    ({"shape": "text", "separator": "-"}, "deals-10"),
    ({"shape": "object", "type_key": "objectType", "id_key": "objectId"}, {"objectType": "deals", "objectId": "10"}),
])
def test_a_reference_in_each_shape(params: dict[str, Any], raw: Any) -> None:
    canonical, back = both_ways("reference", raw, kinds={"deals": "deal", "contacts": "contact"}, **params)
    assert canonical == {"kind": "deal", "id": "deal:10"}
    assert back == raw


def test_a_list_of_references_takes_the_first_known_kind() -> None:
    canonical, back = both_ways("reference", ["X_1", "C_7", "D_10"], shape="text", many=True,
                                kinds={"C": "contact", "D": "deal"})
    assert canonical == {"kind": "contact", "id": "contact:7"} and back == ["C_7"]


def test_a_reference_from_one_id_list_per_kind_takes_the_first_and_writes_the_others_empty() -> None:
    kinds = {"contacts": "contact", "deals": "deal"}
    canonical, back = both_ways("reference", [[], ["10", "11"]], shape="lists", kinds=kinds)
    assert canonical == {"kind": "deal", "id": "deal:10"} and back == [[], ["10"]]
    canonical, back = both_ways("reference", [["7"], ["10"]], shape="lists", kinds=kinds)
    assert canonical == {"kind": "contact", "id": "contact:7"} and back == [["7"], []]  # one link: the deal goes
    canonical, back = both_ways("reference", [None, []], shape="lists", kinds=kinds)
    assert canonical is None and back == [[], []]


def test_iso_time_takes_a_date_alone_as_midnight_utc() -> None:
    transform = get_transform("iso_time")({})
    assert transform.forward("2024-05-01", ctx_for("pull")) == "2024-05-01T00:00:00Z"
    assert transform.forward("2024-05-01T10:00:00.123Z", ctx_for("pull")) == "2024-05-01T10:00:00Z"
    with pytest.raises(Rejection, match="has no UTC offset"):
        transform.forward("2024-05-01T10:00:00", ctx_for("pull"))


def test_paths_reach_keys_that_start_with_a_digit_and_list_items() -> None:
    record = {"properties": {"2f9a_score": "7"}, "values": [{"value": "a"}]}
    assert get_path(record, "properties.2f9a_score") == "7"
    assert get_path(record, "values.0.value") == "a"
    assert get_path(record, "values.3.value") is MISSING
    spec = {"crm": "x", "entity": "contact", "source": "contact",
            "fields": {"first_name": {"from": "properties.2f9a_score"}, "last_name": "1st.name"}}
    assert validate_mapping(spec, file="m.yaml") == []
