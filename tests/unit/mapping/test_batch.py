"""``Mapper.pull_batch`` (field by field across a chunk) gives exactly what ``pull_each`` gives, record
for record: the same canonical values of the same types, the same notes, the same record set aside
with the same field and reason — on every golden case, on golden cases made bad, and on randomized
raw records for every shipped mapping (AmoCRM, Bitrix24, HubSpot)."""

from __future__ import annotations

import contextlib
import copy
import math
import os
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.mapping import FieldCatalog, KeyResolver, Mapper, Rejection, build_catalog, catalog_needs, load_mapping
from crmsync.mapping.raw_values import ENVELOPED, number_envelope, unreadable_envelope
from crmsync.read.metadata import fetch_metadata

from .helpers import CRMS, ENTITIES, canonical, connector, golden, golden_files, mapper, mapping_path, stored
from .strategies import canonical_records

ALL_CRMS = (*CRMS, "hubspot")


def typed(value: Any) -> Any:
    """``value`` with every scalar's type beside it: 1, 1.0 and True are equal in Python, not here."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value) if isinstance(value, float | Decimal) else value)


def outcome(result: Any) -> tuple[Any, ...]:
    if isinstance(result, Rejection):
        return ("set aside", result.as_dict())
    return ("mapped", typed(result.canonical), result.notes)


def assert_batch_equals_each(m: Mapper, raws: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    each = [outcome(r) for _, r in m.pull_each(copy.deepcopy(raws))]
    batch = [outcome(r) for r in m.pull_batch(raws)]
    assert len(batch) == len(raws)
    for i, (got, want) in enumerate(zip(batch, each, strict=True)):
        assert got == want, (i, raws[i])
    return batch


# HubSpot has no golden cases: its metadata and records come from the fake over loopback HTTP (the fixture
# ``hubspot``: conftest.py) -------------------------------------------------------------------------------
@cache
def _hubspot_data(url: str) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    conn = connector("hubspot")
    session = CrmSession.from_connector(conn, Unlimited())
    session.headers["Authorization"] = "Bearer demo-token"
    metadata = fetch_metadata(conn, session, url)
    records = {}
    for entity in ENTITIES:
        listing = conn["entities"][entity]["list"]
        params = {k: ",".join(v) if isinstance(v, list) else v for k, v in (listing.get("params") or {}).items()}
        answer = requests.get(f"{url}/{listing['path']}", params={**params, "limit": 100},
                              headers={"Authorization": "Bearer demo-token"}, timeout=30)
        answer.raise_for_status()
        records[entity] = answer.json()[listing["records"]]
    return metadata, records


def _mapper(crm: str, entity: str, url: str | None) -> Mapper:
    if crm != "hubspot":
        return mapper(crm, entity)
    assert url is not None
    spec = load_mapping(mapping_path(crm, entity), canonical=canonical(), connector=connector(crm))
    metadata, _ = _hubspot_data(url)
    catalog = build_catalog(crm, metadata, spec.source, catalog_needs(spec))
    return Mapper(spec, catalog, KeyResolver(), canonical()[spec.entity])


def _bases(crm: str, entity: str, url: str | None) -> list[dict[str, Any]]:
    if crm == "hubspot":
        assert url is not None
        return _hubspot_data(url)[1][entity]
    return [golden(p)["raw"] for p in golden_files(crm, entity)]


# golden cases ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("entity", ENTITIES)
def test_batch_gives_each_golden_case_as_pull_each_does(crm: str, entity: str) -> None:
    raws = _bases(crm, entity, None)
    got = assert_batch_equals_each(mapper(crm, entity), raws + copy.deepcopy(raws))  # repeats: the per-batch cache
    wanted = [golden(p) for p in golden_files(crm, entity)]
    assert [g[1] for g in got[:len(raws)]] == [typed(w["canonical"]) for w in wanted]


BAD = ["a\x01b", "\ud800", "", " ", "not a number", 10**30, -1, 1.5, math.inf, math.nan, True, False, None, [], {},
       [{"value": "x\x00"}], [{"enum_id": 999999999}], {"unexpected": [1, "two"]}, "2026-13-45", 253402300800000]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a record: its values, and the lists and objects that hold them."""
    if isinstance(value, dict):
        return [path, *(p for k, v in value.items() for p in _paths(v, (*path, k)))]
    if isinstance(value, list):
        return [path, *(p for i, v in enumerate(value) for p in _paths(v, (*path, i)))]
    return [path]


def _put(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = record
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("entity", ENTITIES)
def test_batch_sets_aside_the_same_records_for_the_same_field(crm: str, entity: str) -> None:
    """Every place in every golden record replaced by bad values (three per place, in turn), in one batch."""
    m = mapper(crm, entity)
    raws = []
    turn = 0
    for base in _bases(crm, entity, None):
        for path in _paths(base)[1:]:
            for _ in range(3):
                raw = copy.deepcopy(base)
                _put(raw, path, BAD[turn % len(BAD)])
                raws.append(raw)
                turn += 1
    got = assert_batch_equals_each(m, raws)
    set_aside = [g[1] for g in got if g[0] == "set aside"]
    assert set_aside, "bad values must set records aside, or this test proves nothing"
    assert any(g[0] == "mapped" for g in got)
    assert len({r["field"] for r in set_aside}) > 1


def test_a_record_set_aside_leaves_the_rest_of_the_batch_mapped() -> None:
    m = mapper("amocrm", "contact")
    raws = _bases("amocrm", "contact", None)
    bad = copy.deepcopy(raws[0])
    bad["name"] = "Ann\x00"
    got = m.pull_batch([raws[1], bad, raws[2]])
    assert isinstance(got[1], Rejection) and got[1].field == "name" and "U+0000" in got[1].reason
    assert [r.canonical for r in (got[0], got[2])] == [m.pull(raws[1]), m.pull(raws[2])]
    assert [outcome(r) for r in m.pull_batch(iter([raws[1], bad]))] == [outcome(r) for r in got[:2]]


@pytest.mark.parametrize("shape", [5, "text", {"field_id": 1}, [1, 2]])
def test_a_custom_field_list_of_another_shape_sets_the_record_aside(shape: Any) -> None:
    """It used to stop the whole run (TypeError, AttributeError out of the layout)."""
    m = mapper("amocrm", "contact")
    raw = {**copy.deepcopy(_bases("amocrm", "contact", None)[0]), "custom_fields_values": shape}
    with pytest.raises(Rejection) as caught:
        m.pull_result(raw)
    assert caught.value.field == "phones" and "cannot be read from the CRM's record" in caught.value.reason
    assert_batch_equals_each(m, [raw, _bases("amocrm", "contact", None)[1]])


def test_values_equal_in_python_but_of_other_types_are_mapped_apart() -> None:
    """The per-batch cache keys values by type too: 1, 1.0, True are three names, not one."""
    m = mapper("amocrm", "contact")
    base = _bases("amocrm", "contact", None)[0]
    odd = [1, True, 1.0, "1", 0, False, 0.0, -0.0, [1], [True]]
    raws = [{**copy.deepcopy(base), "name": v} for v in odd]
    got = assert_batch_equals_each(m, raws)
    names = [g[1].get("name") if g[0] == "mapped" else g[1]["field"] for g in got]
    assert names == [("str", "1"), ("str", "True"), ("str", "1.0"), ("str", "1"), ("str", "0"), ("str", "False"),
                     ("str", "0.0"), ("str", "-0.0"), "name", "name"]


# randomized raw records -----------------------------------------------------------------------------
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
                    st.decimals(allow_nan=False, places=3, min_value=-10**6, max_value=10**6),
                    st.text(max_size=6), st.sampled_from(BAD[:4] + ["0", "1", "-0.0", "2026-01-01", "+79161234567",
                                                                    "8 916 123-45-67", "Ann@Example.ru", "Y", "N"]))
JUNK = st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                 st.dictionaries(st.sampled_from(["value", "enum_id", "enum_code", "VALUE", "VALUE_TYPE", "id"]),
                                 SCALARS, max_size=3),
                 st.lists(st.fixed_dictionaries({"value": SCALARS}), max_size=2),
                 st.builds(number_envelope, st.sampled_from(["1e30", "12345678901234567890123", "x"])),
                 st.builds(unreadable_envelope, st.just("NaN"), st.just("not a number")))


@st.composite
def raw_records(draw: Any, m: Mapper, bases: list[dict[str, Any]], from_push: bool) -> dict[str, Any]:
    if from_push and draw(st.booleans()):
        raw = stored(m, m.push(draw(canonical_records(m))))
    else:
        raw = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from([p for p in _paths(raw) if p]))
        if draw(st.integers(0, 4)) == 0:
            node: Any = raw
            for part in path[:-1]:
                node = node[part]
            node.pop(path[-1]) if isinstance(node, dict) else None
        else:
            _put(raw, path, draw(JUNK))
    if draw(st.integers(0, 5)) == 0:
        raw[ENVELOPED] = True
    return raw


def _randomized(examples: int) -> Any:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("crm", ALL_CRMS)
@pytest.mark.parametrize("entity", ENTITIES)
@_randomized(8)
@given(data=st.data())
def test_batch_equals_each_on_randomized_raw_records(crm: str, entity: str, hubspot: Any, data: Any) -> None:
    _check_randomized(crm, entity, hubspot, data)


@pytest.mark.fuzz_long
@pytest.mark.parametrize("crm", ALL_CRMS)
@pytest.mark.parametrize("entity", ENTITIES)
@_randomized(int(os.environ.get("CRMSYNC_FUZZ_EXAMPLES") or 200))
@given(data=st.data())
def test_batch_equals_each_on_many_randomized_raw_records(crm: str, entity: str, hubspot: Any, data: Any) -> None:
    """Many examples: ``pytest -m fuzz_long`` (CRMSYNC_FUZZ_EXAMPLES sets how many, default 200)."""
    _check_randomized(crm, entity, hubspot, data)


def _check_randomized(crm: str, entity: str, hubspot: Any, data: Any) -> None:
    url = hubspot.url if crm == "hubspot" else None
    m = _mapper(crm, entity, url)
    records = st.lists(raw_records(m, _bases(crm, entity, url), from_push=crm != "hubspot"), min_size=1, max_size=6)
    raws = data.draw(records)
    raws += [copy.deepcopy(r) for r in data.draw(st.lists(st.sampled_from(raws), max_size=3))]  # equal values
    assert_batch_equals_each(m, raws)


# column kernels and custom values read as their one value (issue 18) -------------------------------------
@settings(max_examples=100, deadline=None)
@given(seconds=st.one_of(st.integers(-(2**40), 2**40), st.integers(253402300700, 253402300900),
                         st.integers(-100, 100), st.booleans()))
def test_the_unix_time_kernel_gives_what_the_transform_gives(seconds: Any) -> None:
    from crmsync.mapping.batch import _SLOW, _unix_time_text

    m = mapper("amocrm", "contact")
    bound = next(b for b in m.fields if b.name == "created_at")
    fast = _unix_time_text(seconds)
    if fast is _SLOW:
        assert type(seconds) is not int or not 0 <= seconds < 253402300800
        return
    assert fast == m.pull_result({"created_at": seconds}).canonical["created_at"] == bound.chain[0].forward(
        seconds, None)


@pytest.mark.parametrize("field", ["position", "Бюджет", "День рождения", "Заметки"])
def test_custom_values_read_as_their_one_value_map_as_the_whole_list_does(field: str) -> None:
    """Each cf_value field given [{"value": x}] for every bad value x, beside other shapes, envelopes and
    enveloped records, in one batch: the one-value path must give pull_each's result for every record."""
    m = mapper("amocrm", "contact")
    base = _bases("amocrm", "contact", None)[0]
    bound = next(b for b in m.fields if b.custom is not None and field in (b.custom.name, b.name))
    shapes: list[Any] = [[{"value": v}] for v in [*BAD, "  x  ", "42", 42, 0, -5, 2**70, "Line one\nline two"]]
    shapes += [[{"value": "a", "enum_id": 1}], [{"value": "a"}, {"value": "b"}], [{"other": 1}], [], None, "text",
               [{"value": number_envelope("12345678901234567890123")}], [{"value": '{"$crmsync": "number"'}],
               [{"value": "x\x00"}], [[1]], [{"value": {"nested": "y"}}]]
    raws = []
    for shape in shapes:
        for flagged in (False, True):
            raw = copy.deepcopy(base)
            entries = [e for e in raw.get("custom_fields_values") or [] if e.get("field_id") != bound.custom.id]
            entries.append({"field_id": bound.custom.id, "field_name": bound.custom.name, "values": shape})
            raw["custom_fields_values"] = entries
            if flagged:
                raw[ENVELOPED] = True
            raws.append(raw)
    got = assert_batch_equals_each(m, raws + copy.deepcopy(raws))
    assert {g[0] for g in got} == {"mapped", "set aside"}


_ISO_PARTS = st.tuples(st.integers(990, 10010), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
                       st.integers(0, 61), st.integers(0, 61),
                       st.sampled_from(["", ".0", ".000", ".123456", ".1234567"]),
                       st.sampled_from(["Z", "+03:00", "-14:00", "+14:00", "+00:00", "-00:30", "+25:00", "", "z"]))


@settings(max_examples=200, deadline=None)
@given(parts=_ISO_PARTS, noise=st.sampled_from(["", " ", "T", "x"]))
def test_the_iso_time_kernel_gives_what_the_transform_gives(parts: tuple[Any, ...], noise: str) -> None:
    from crmsync.mapping.batch import _SLOW, _iso_time_text
    from crmsync.mapping.context import Context
    from crmsync.mapping.transforms.times import IsoTime

    year, month, day, hour, minute, second, fraction, zone = parts
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    text = text + noise if noise != "T" else text.replace("T", " ")
    fast = _iso_time_text(text)
    if fast is _SLOW:
        return
    ctx = Context(FieldCatalog("x", "contact"), None, {}, "pull")
    assert fast == IsoTime({"type": "iso_time"}).forward(text, ctx), text


def test_the_iso_time_kernel_takes_the_crms_usual_texts() -> None:
    from crmsync.mapping.batch import _SLOW, _iso_time_text
    from crmsync.mapping.context import Context
    from crmsync.mapping.transforms.times import IsoTime

    ctx = Context(FieldCatalog("x", "contact"), None, {}, "pull")
    texts = ["2025-12-08T13:17:00.000Z", "2025-12-08T16:17:00+03:00", "2025-01-01T01:00:00+03:00",
             "2024-02-29T23:30:00-05:00", "1970-01-01T00:00:00Z", "9998-12-31T23:59:59-14:00",
             "1001-01-01T00:00:00+14:00"]
    for text in texts:
        assert _iso_time_text(text) is not _SLOW
        assert _iso_time_text(text) == IsoTime({"type": "iso_time"}).forward(text, ctx), text
    for text in ["2025-12-08T13:17:00", "2025-02-30T00:00:00Z", " 2025-12-08T13:17:00Z", "9999-12-31T23:00:00Z", 5]:
        assert _iso_time_text(text) is _SLOW


class _Dict(dict):  # type: ignore[type-arg]
    pass


_ENTRIES: list[Any] = [
    {"value": "+7 916 123-45-67", "enum_code": "WORK"}, {"value": "8 (495) 2913342 доб. 650", "enum_code": "MOB"},
    {"value": "(212) 555-3621", "enum_code": "OTHER"}, {"value": "12", "enum_code": "HOME"},
    {"value": "Ann@Example.RU ", "enum_code": "PRIV"}, {"value": "not an address", "enum_code": "WORK"},
    {"value": "x\x01y", "enum_code": "WORK"}, {"value": "", "enum_code": "WORK"}, {"value": None, "enum_code": "WORK"},
    {"value": 79161234567, "enum_code": "WORK"}, {"value": "+79161234567", "enum_code": "NOPE"},
    {"value": "+79161234567", "enum_id": 1}, {"value": "+79161234567"}, {"value": "+79161234567", "enum_code": 5},
    {"VALUE": "+7 916 000 00 00", "VALUE_TYPE": "WORK"}, {"VALUE": "a@b.ru", "VALUE_TYPE": "WORK", "DELETE": "Y"},
    {"VALUE": "+7 916 000 00 00", "VALUE_TYPE": "MOBILE", "ID": "3"}, {"VALUE": "b@c.ru", "VALUE_TYPE": "HOME"},
    "+79161234567", 5, None, [], _Dict(value="+79161234567", enum_code="WORK"),
]


@pytest.mark.parametrize("crm", CRMS)
def test_phone_and_email_lists_map_as_pull_each_maps_them(crm: str) -> None:
    """Lists of entries of every shape (valid, invalid and bad texts, unmapped kinds, kinds by option id,
    deleted entries, entries that are not objects) for the phones and e-mails of a contact."""
    import random

    m = mapper(crm, "contact")
    base = _bases(crm, "contact", None)[0]
    rng = random.Random(18)
    raws = []
    for _ in range(150):
        raw = copy.deepcopy(base)
        for bound in (b for b in m.fields if b.name in ("phones", "emails")):
            value: Any = [copy.deepcopy(rng.choice(_ENTRIES)) for _ in range(rng.randrange(0, 4))]
            value = rng.choice([value, value, value, None, "text", {"value": "+79161234567"}])
            if bound.custom is not None and crm == "amocrm":
                raw["custom_fields_values"] = [e for e in raw.get("custom_fields_values") or []
                                               if e.get("field_id") != bound.custom.id]
                raw["custom_fields_values"].append({"field_id": bound.custom.id, "values": value})
            else:
                raw[str(bound.spec.source)] = value
        raws.append(raw)
    got = assert_batch_equals_each(m, raws)
    assert {g[0] for g in got} == {"mapped", "set aside"}
    assert any(g[0] == "mapped" and g[2] for g in got), "some records must carry a phone's note"


# values shared by many records of a chunk (issue 18: each distinct value mapped and checked once) --------
_SHARED_JUNK = [*BAD, 0, 1, 1.0, -0.0, 2**70, "0", "1", "Y", "N", "x", "2026-01-01", "2025-01-19T16:37:41+03:00",
                "2025-01-19T16:37:41Z", 1735692856, "+79161234567", "8 916 123-45-67", "Ann@Example.ru", [1],
                ["1", "2"], [{"value": "x"}], [{"value": 5}], [{"value": "a", "enum_id": 1}], {"value": 1},
                number_envelope("12345678901234567890123"), unreadable_envelope("NaN", "not a number"),
                10**17, "100.125", 12.345]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("entity", ENTITIES)
def test_batch_equals_each_when_many_records_share_each_value(crm: str, entity: str, seed: int) -> None:
    """A chunk of 400 records drawn from 25 variants of the golden records (a tenth of their values
    replaced by junk, some records enveloped): every value, good or bad, is held by many records, the first
    holder of a value maps it for the rest, and one the canonical check refuses must fail every holder."""
    import random

    rng = random.Random(seed)
    m = mapper(crm, entity)
    variants = []
    for _ in range(25):
        raw = copy.deepcopy(rng.choice(_bases(crm, entity, None)))
        for path in [p for p in _paths(raw) if p]:
            if rng.random() < 0.1:
                with contextlib.suppress(KeyError, IndexError, TypeError):  # a place an earlier change replaced
                    _put(raw, path, copy.deepcopy(rng.choice(_SHARED_JUNK)))
        if rng.random() < 0.15:
            raw[ENVELOPED] = True
        variants.append(raw)
    got = assert_batch_equals_each(m, [copy.deepcopy(rng.choice(variants)) for _ in range(400)])
    assert {g[0] for g in got} == {"mapped", "set aside"}


@pytest.mark.parametrize("crm", CRMS)
def test_a_shared_value_the_canonical_check_refuses_sets_aside_every_record_holding_it(crm: str) -> None:
    """The chain takes these amounts; the canonical check refuses them (beyond the bounds, more decimals
    than the scale). Checked once per distinct value, each refusal must still reach every holder."""
    m = mapper(crm, "deal")
    base = _bases(crm, "deal", None)[0]
    field = "price" if crm == "amocrm" else "OPPORTUNITY"
    raws = []
    for k in range(120):
        raw = copy.deepcopy(base)
        raw[field] = [10**17, "100.125", 5, 12.345][k % 4] if crm == "amocrm" else ["1e17", "100.125", "5", "1"][k % 4]
        raws.append(raw)
    got = assert_batch_equals_each(m, raws)
    aside = [k for k, g in enumerate(got) if g[0] == "set aside"]
    assert len(aside) >= 30 and all(got[k][1]["field"] == "amount" for k in aside)


def test_the_first_entry_naming_a_custom_field_is_its_value() -> None:
    """Entries naming one field twice, by id or by code, in either order of shapes: the first one counts."""
    m = mapper("amocrm", "contact")
    base = _bases("amocrm", "contact", None)[0]
    position = next(b for b in m.fields if b.name == "position").custom
    phones = next(b for b in m.fields if b.name == "phones").custom
    shapes = [[{"value": "Manager"}], [{"value": "A"}, {"value": "B"}], [{"value": "x\x01"}], None,
              [{"value": 7, "enum_id": 1}]]
    raws = []
    for first in shapes:
        for second in shapes:
            for by_code in (False, True):
                raw = copy.deepcopy(base)
                named = {"field_code": position.code} if by_code and position.code else {"field_id": position.id}
                raw["custom_fields_values"] = [
                    {"field_id": position.id, "values": first}, {**named, "values": second},
                    {"field_id": 1, "field_code": phones.code,
                     "values": [{"value": "+79161234567", "enum_code": "WORK"}]},
                    *(raw.get("custom_fields_values") or [])]
                raws.append(raw)
    assert_batch_equals_each(m, raws + copy.deepcopy(raws))
