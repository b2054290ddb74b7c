"""contact_properties: a CRM that keeps each phone / e-mail in its own property (email, phone,
mobilephone) ⇄ the canonical list of {value, type}."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.mapping import Rejection, get_transform
from crmsync.mapping.validate import validate_mapping

from .strategies import EMAILS, PHONES
from .test_generic_transforms import ctx_for

KINDS = ["work", "mobile", "home", "fax", "other"]
SLOTS = st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True), st.sampled_from(KINDS),
                        min_size=1, max_size=4)


def make(properties: dict[str, str]) -> Any:
    return get_transform("contact_properties")({"type": "contact_properties", "properties": properties})


def test_each_property_becomes_an_entry_of_its_type_and_empty_ones_are_left_out() -> None:
    t = make({"phone": "work", "mobilephone": "mobile", "fax": "fax"})
    assert t.forward(["+100", None, "+300"], ctx_for("pull")) == [
        {"value": "+100", "type": "work"}, {"value": "+300", "type": "fax"}]
    assert t.forward([None, "", None], ctx_for("pull")) == []


def test_push_puts_each_entry_in_a_free_property_of_its_type_and_clears_the_rest() -> None:
    t = make({"phone": "work", "mobilephone": "mobile", "hs_phone_2": "work"})
    entries = [{"value": "+2", "type": "mobile"}, {"value": "+1", "type": "work"}, {"value": "+3", "type": "work"}]
    assert t.inverse(entries, ctx_for("push")) == ["+1", "+2", "+3"]
    assert t.inverse([{"value": "+2", "type": "mobile"}], ctx_for("push")) == [None, "+2", None]
    assert t.inverse([], ctx_for("push")) == [None, None, None]
    # what a property holds now stays there, even listed after the other value of its type
    assert t.inverse(entries, ctx_for("push", [None, "+2", "+1"])) == ["+3", "+2", "+1"]


def test_one_property_is_read_from_its_own_path_and_written_as_one_value() -> None:
    t = make({"email": "work"})
    assert t.forward("a@x.io", ctx_for("pull")) == [{"value": "a@x.io", "type": "work"}]
    assert t.forward(None, ctx_for("pull")) == []
    assert t.inverse([{"value": "a@x.io", "type": "work"}], ctx_for("push")) == "a@x.io"
    assert t.inverse([], ctx_for("push")) is None
    with pytest.raises(Rejection, match="expects the one value of property email"):
        t.forward(["a@x.io"], ctx_for("pull"))


def test_more_entries_than_properties_sets_the_field_aside_naming_what_is_full() -> None:
    t = make({"phone": "work", "mobilephone": "mobile"})
    with pytest.raises(Rejection, match=r"cannot write '\+2' \(work\): its properties \(phone\) already hold "
                                        r"'\+1'") as caught:
        t.inverse([{"value": "+1", "type": "work"}, {"value": "+2", "type": "work"}], ctx_for("push"))
    assert caught.value.field == "f"


def test_a_type_no_property_takes_is_set_aside_not_written_elsewhere() -> None:
    t = make({"phone": "work", "mobilephone": "mobile"})
    with pytest.raises(Rejection, match=r"'\+5' \(home\): no property takes that type \(properties: phone: work, "
                                        r"mobilephone: mobile\)"):
        t.inverse([{"value": "+5", "type": "home"}], ctx_for("push"))


@pytest.mark.parametrize("value", ["+100", ["+100"], None])
def test_a_from_that_does_not_list_one_value_per_property_is_refused(value: Any) -> None:
    with pytest.raises(Rejection, match=r"expects the values of 2 properties \(phone, mobilephone\)"):
        make({"phone": "work", "mobilephone": "mobile"}).forward(value, ctx_for("pull"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared, busy machine
@given(slots=SLOTS, data=st.data())
def test_crm_values_survive_pull_and_push(slots: dict[str, str], data: st.DataObject) -> None:
    t = make(slots)
    raw = data.draw(st.lists(st.one_of(st.none(), st.just(""), PHONES, EMAILS), min_size=len(slots),
                             max_size=len(slots)))
    single = len(slots) == 1
    canonical = t.forward(raw[0] if single else raw, ctx_for("pull"))
    # with the record as the CRM holds it now, every value goes back to the very property it came from
    back = t.inverse(canonical, ctx_for("push", raw))
    assert ([back] if single else back) == [v or None for v in raw]
    # without it, each value still lands in a property of its own type
    blind = t.inverse(canonical, ctx_for("push"))
    assert Counter(map(str, t.forward(blind, ctx_for("pull")))) == Counter(map(str, canonical))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared, busy machine
@given(slots=SLOTS, data=st.data())
def test_canonical_entries_that_fit_survive_push_and_pull(slots: dict[str, str], data: st.DataObject) -> None:
    t = make(slots)
    # at most as many entries of a type as there are properties of that type, in any order
    kinds = data.draw(st.permutations(list(slots.values())).flatmap(
        lambda ks: st.integers(0, len(ks)).map(lambda n: ks[:n])))
    entries = [{"value": data.draw(PHONES), "type": kind} for kind in kinds]
    again = t.forward(t.inverse(entries, ctx_for("push")), ctx_for("pull"))  # one property: a value, not a list
    assert Counter((e["value"], e["type"]) for e in again) == Counter((e["value"], e["type"]) for e in entries)


def test_validate_knows_the_transform_and_its_parameters() -> None:
    doc = {"crm": "x", "entity": "contact", "source": "contact", "fields": {
        "phones": {"from": ["p.phone", "p.mobilephone"],
                   "transforms": [{"type": "contact_properties", "properties": {"phone": "work", "mobilephone": 3}}]}}}
    problems = validate_mapping(doc, file="m.yaml")
    assert any("properties" in str(p) for p in problems), problems
    doc["fields"]["phones"]["transforms"][0]["properties"]["mobilephone"] = "mobile"
    assert validate_mapping(doc, file="m.yaml") == []
