"""A page as an Arrow table holds what dlt's record normaliser would have loaded, or is declined."""

import orjson
import pyarrow as pa

from crmsync.read.batches import RoundBatches, arrow_page


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
