"""A page as an Arrow table holds what dlt's record normaliser would have loaded, or is declined."""

import orjson
import pyarrow as pa
import pytest

import crmsync.read.batches as batches_module
from crmsync.read.batches import Fetched, RoundBatches, arrow_page, with_json_texts


def test_scalars_are_typed_by_their_values_and_nested_values_are_json_text():
    rows = [{"id": 1, "name": "Ann", "price": 1.5, "done": True, "cf": [{"field_id": 7, "values": [{"value": "x"}]}],
             "links": {"self": {"href": "h"}}, "gone": None},
            {"id": 2, "name": None, "price": 2.0, "done": False, "cf": None, "links": {}, "gone": None}]
    table, hints = arrow_page(rows, {})
    assert table.schema.names == ["id", "name", "price", "done", "cf", "links"]  # "gone": null everywhere
    assert [str(t) for t in table.schema.types] == ["int64", "string", "double", "bool", "string", "string"]
    assert hints == {"cf": {"data_type": "json"}, "links": {"data_type": "json"}}
    assert orjson.loads(table.column("cf")[0].as_py()) == rows[0]["cf"]
    assert table.column("cf")[1].as_py() is None
    assert table.column("links").to_pylist()[1] == "{}"


def test_a_column_of_mixed_types_is_declined_for_dlt_s_variant_columns():
    assert arrow_page([{"id": 1, "price": 10}, {"id": 2, "price": "10 USD"}], {}) is None
    assert arrow_page([{"id": 1, "price": 10}, {"id": 2, "price": 10.5}], {}) is None
    assert arrow_page([{"id": 1, "x": {"a": 1}}, {"id": 2, "x": "text"}], {}) is None


def test_a_type_other_than_the_column_already_has_is_declined():
    known = {"id": {"data_type": "bigint"}, "price": {"data_type": "bigint"}}
    assert arrow_page([{"id": 1, "price": "10"}], known) is None
    assert arrow_page([{"id": 1, "price": 10.0}], {"price": {"data_type": "text"}}) is None
    table, _ = arrow_page([{"id": 1, "price": 3}], known)
    assert table.column("price").to_pylist() == [3]


def test_an_integer_past_64_bits_is_declined():
    assert arrow_page([{"id": 2**64}], {}) is None


class _Dlt:
    """What RoundBatches asks of dlt: the source schema so far, and the hint marker."""

    class current:  # noqa: N801 - dlt's own spelling
        @staticmethod
        def source_schema():
            return type("Schema", (), {"tables": {}})()

    class mark:  # noqa: N801
        @staticmethod
        def make_hints(columns):
            return columns

        @staticmethod
        def with_hints(item, hints):
            return ("hinted", item, hints)


def test_a_round_goes_on_as_records_once_a_batch_was_declined():
    batches = RoundBatches("contact", _Dlt, rows=2)
    out = list(batches.add([{"id": 1, "n": 1}, {"id": 2, "n": 2}]))
    assert len(out) == 1 and isinstance(out[0], pa.Table)
    out = list(batches.add([{"id": 3, "n": "three"}, {"id": 4, "n": 4}]))  # mixed within the batch
    assert out == [[{"id": 3, "n": "three"}, {"id": 4, "n": 4}]]
    out = list(batches.add([{"id": 5, "n": 5}])) + list(batches.flush())
    assert out == [[{"id": 5, "n": 5}]]  # records: their types are settled after the round's tables


def test_a_later_batch_of_another_type_than_an_earlier_table_in_the_round_is_declined():
    batches = RoundBatches("contact", _Dlt, rows=1)
    assert isinstance(next(iter(batches.add([{"id": 1, "n": 1}]))), pa.Table)
    assert list(batches.add([{"id": 2, "n": "two"}])) == [[{"id": 2, "n": "two"}]]


def test_enveloped_records_go_as_records():
    from crmsync.mapping.raw_values import ENVELOPED

    batches = RoundBatches("contact", _Dlt, rows=10)
    assert list(batches.add([{"id": 1}])) == []
    row = {"id": 2, ENVELOPED: True}
    out = list(batches.add([row]))
    assert isinstance(out[0], pa.Table) and out[1] == [row]


def _contacts():
    return [{"id": 1, "name": "Ann", "cf": [{"field_id": 7, "values": [{"value": "Zoë", "enum_id": 3}]}],
             "_embedded": {"tags": [], "companies": [{"id": 9}]}, "empty": {}},
            {"id": 2, "name": "Bo", "cf": None, "_embedded": {"companies": []}, "empty": []}]


def test_the_json_texts_the_fetch_thread_wrote_make_the_same_table(monkeypatch):
    expected, _ = arrow_page(_contacts(), {})
    rows = _contacts()
    assert with_json_texts(rows) == sum(len(orjson.dumps(v)) for r in _contacts() for v in r.values()
                                        if isinstance(v, (dict, list)))
    assert all(type(row) is Fetched for row in rows) and rows == _contacts()
    monkeypatch.setattr(batches_module, "dump_bytes", lambda value: pytest.fail(f"{value!r} written again"))
    table, hints = arrow_page(rows, {})
    assert table.equals(expected) and set(hints) == {"cf", "_embedded", "empty"}


def test_a_value_replaced_after_its_text_was_written_is_written_anew():
    rows = _contacts()
    with_json_texts(rows)
    rows[0]["_embedded"] = {"companies": [{"id": 10}]}  # links attached later, say: the old text is stale
    table, _ = arrow_page(rows, {})
    assert orjson.loads(table.column("_embedded")[0].as_py()) == {"companies": [{"id": 10}]}
    assert orjson.loads(table.column("cf")[0].as_py()) == _contacts()[0]["cf"]


def test_records_go_to_dlt_as_plain_dicts_without_their_texts():
    from crmsync.mapping.raw_values import ENVELOPED

    rows = _contacts()
    with_json_texts(rows)
    batches = RoundBatches("contact", _Dlt, rows=10)
    out = list(batches.add(rows[:1])) + list(batches.add([{"id": 3, ENVELOPED: True}]))
    assert out[0][0] == "hinted" and out[1] == [{"id": 3, ENVELOPED: True}]
    out = list(batches.add(rows[1:]))  # the round goes on as records
    assert out == [_contacts()[1:]] and type(out[0][0]) is dict

    declined = _contacts()
    declined[1]["name"] = 2  # mixed types: the batch goes as records
    with_json_texts(declined)
    out = list(RoundBatches("contact", _Dlt, rows=2).add(declined))
    assert out == [declined] and all(type(row) is dict for row in out[0])
