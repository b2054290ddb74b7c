"""Raw pages parse exactly and every value loads: envelopes for what the raw tables cannot keep."""

import math

import pytest

from crmsync.mapping.raw_values import ENVELOPED, Unreadable, unwrap
from crmsync.read.rest import cursor_value
from crmsync.read.storable import VARIANT, fold_variants, loads_exact, page_is_plain, storable, variant_columns


def test_integers_past_64_bits_parse_exactly():
    # orjson alone reads 10**25 as the float 1e25 (10000000000000000905969664)
    assert loads_exact(b'{"price": 10000000000000000000000000}') == {"price": 10**25}
    assert loads_exact(b'{"price": 5}') == {"price": 5}


def test_nan_and_lone_surrogates_parse_to_be_enveloped():
    body = loads_exact(b'{"a": NaN, "b": "x\\ud800y"}')
    assert math.isnan(body["a"]) and body["b"] == "x\ud800y"
    row = storable(body)
    assert row[ENVELOPED] is True
    with pytest.raises(Unreadable, match="not a number"):
        unwrap(row["a"])
    with pytest.raises(Unreadable, match="not valid Unicode"):
        unwrap(row["b"])


def test_a_nul_anywhere_is_enveloped_with_its_place_so_no_store_fails_on_it():
    page = b'{"id": 7, "name": "\\u0418\\u0432\\u0000an", "cf": [{"values": [{"value": "a\\u0000"}]}]}'
    row = storable(loads_exact(page))
    assert row[ENVELOPED] is True and row["id"] == 7
    with pytest.raises(Unreadable, match=r"control character U\+0000 at position 2"):
        unwrap(row["name"])
    with pytest.raises(Unreadable, match=r"U\+0000 at position 1"):
        unwrap(row["cf"])
    assert not any("\x00" in text for text in _texts(row))  # nothing of it reaches a store
    assert storable({"s": "\x00"})[ENVELOPED] is True  # an ASCII text is checked too
    assert storable({"s": "x\ud800\x00"})["s"]["text"] == "x\\ud800\\u0000"


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def test_numbers_no_column_keeps_are_enveloped_exactly_and_unwrap_to_their_text():
    row = storable({"id": 1, "price": 10**25, "cf": [{"values": [{"value": 1e26}]}], "ok": 1.5})
    assert row["id"] == 1 and row["ok"] == 1.5
    assert unwrap(row["price"]) == "10000000000000000000000000"
    assert unwrap(row["cf"]) == [{"values": [{"value": "1e+26"}]}]


def test_a_plain_row_is_returned_as_is():
    row = {"id": 1, "name": "Иван", "tags": [{"x": "y"}]}
    assert storable(row) is row
    assert page_is_plain(b'{"a": 12, "b": "1x"}') and not page_is_plain(b'{"a": 1e26}')
    assert not page_is_plain(b'{"a": 10000000000000000000000}')
    assert not page_is_plain(b'{"a": NaN}') and not page_is_plain(b'{"a": "\\ud800"}')


def test_dlt_variant_columns_fold_back_into_their_column():
    names = ["id", "price", f"price{VARIANT}json", f"price{VARIANT}text"]
    variants = variant_columns(names)
    row = {"id": 1, "price": None, f"price{VARIANT}json": {"$crmsync": "number", "text": "1"},
           f"price{VARIANT}text": None}
    assert fold_variants(row, variants) == {"id": 1, "price": {"$crmsync": "number", "text": "1"}}
    assert fold_variants({"id": 2, "price": 5}, variants) == {"id": 2, "price": 5}


@pytest.mark.parametrize(("value", "fmt", "ok"), [
    (1700000000, "unix_seconds", True), ("1700000000", "unix_seconds", True), ("abc", "unix_seconds", False),
    (10**30, "unix_seconds", False), (-5, "unix_seconds", False), (None, "unix_seconds", False),
    ("2026-01-01T00:00:00+03:00", "iso8601", True), ("2026-13-45T00:00:00+03:00", "iso8601", False),
    ("", "iso8601", False),
])
def test_a_malformed_or_absurd_modification_time_never_moves_the_cursor(value, fmt, ok):
    assert (cursor_value(value, fmt) is not None) == ok


def test_an_envelope_kept_as_text_by_a_text_column_is_opened_too():
    with pytest.raises(Unreadable, match="not a number"):
        unwrap('{"$crmsync":"unreadable","text":"nan","reason":"not a number"}')
    assert unwrap('{"$crmsync":"number","text":"1e+26"}') == "1e+26"
    assert unwrap('{"a": 1}') == '{"a": 1}'


@pytest.mark.parametrize(("body", "long_digits", "plain"), [
    (b'{"id":1234567890123456789,"t":"x"}', True, False),  # 19 digits: may not fit in 64 bits
    (b'{"id":123456789012345678}', False, True),  # 18 digits always fit
    (b'{"p":"+7 999 123-45-67","n":-42,"f":0.5}', False, True),
    (b'{"price":1e26}', False, False), (b'{"price":2.5E-3}', False, False), (b'{"price":7e+1}', False, False),
    (b'{"note":"the 3rd e-mail"}', False, True),  # a letter e beside digits is no exponent without a digit after
    (b'{"x":NaN}', False, False), (b'{"x":-Infinity}', False, False),
    (b'{"s":"\\ud83d"}', False, False),  # a surrogate escape (the standard library reads a lone one)
    (b'{"s":"\\u0041\\n"}', False, True),  # an ordinary escape
    (b'{"s":"a\\u0000b"}', False, False),  # a NUL: no Postgres text or jsonb holds it
])
def test_a_page_is_scanned_once_for_what_the_raw_tables_cannot_keep(body, long_digits, plain):
    from crmsync.read.storable import page_scan

    assert page_scan(body) == (long_digits, plain)
    assert page_is_plain(body) is plain
    if long_digits:
        assert loads_exact(body, long_digits=True)["id"] == 1234567890123456789


def test_a_scanned_page_is_parsed_by_orjson_not_the_standard_library(monkeypatch):
    # orjson refuses a bytes subclass: every page the fetch thread had scanned went to the slower parser
    import crmsync.read.storable as storable_module
    from crmsync.read.storable import scanned

    def refuse(*_args, **_kwargs):
        raise AssertionError("a plain page went to the standard library's parser")

    monkeypatch.setattr(storable_module.json, "loads", refuse)
    page = scanned(b'{"_embedded":{"contacts":[{"id":1,"name":"\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd"}]}}')
    assert loads_exact(page)["_embedded"]["contacts"][0]["name"] == "Иван"


@pytest.mark.parametrize("body", [
    b'{"_embedded":{"contacts":[{"id":1,"n":"\xd0\x98","cf":[{"v":[{"value":"+7 999"}]}]},{"id":2,"n":null}]}}',
    b'{"_embedded":{"contacts":[{"id":12345678901234567890123,"n":"a"},{"id":2,"f":1e26}]}}',
    b'{"_embedded":{"contacts":[{"id":1,"x":NaN,"s":"\\ud83d"},{"id":2,"s":"a\\u0000b","y":-Infinity}]}}',
    b'{"_embedded":{"contacts":[{"id":1,"price":2.5E-3,"tags":[]},{"id":2,"price":7e+1}]}}',
])
def test_a_page_the_fetch_thread_parsed_gives_the_reader_what_its_bytes_did(body):
    # PagedRead takes a parsed page's records, enveloped only when the page is not plain; it parsed the
    # bytes itself before (and enveloped when page_scan said so): the rows must be the same
    from crmsync.read.paginators import records_at
    from crmsync.read.storable import PARSED_WEIGHT, page_scan, parsed_page, scanned, storable

    page = scanned(body)
    parsed = parsed_page(records_at(loads_exact(page), "_embedded.contacts"), page)
    long_digits, plain = page_scan(body)
    before = records_at(loads_exact(body, long_digits=long_digits), "_embedded.contacts")
    before = before if plain else [storable(row) for row in before]
    after = list(parsed) if parsed.plain else [storable(row) for row in parsed]
    assert repr(after) == repr(before)  # repr: NaN is not equal to itself
    assert parsed.plain is plain and parsed.weight == PARSED_WEIGHT * len(body)
