"""The app schema file is what the canonical schemas say it is, and values survive the trip both ways."""

import datetime as dt
from decimal import Decimal

import pytest

from crmsync.appsync.schema import AppSchema, derive, from_app, shipped, to_app
from crmsync.errors import UserError
from crmsync.mapping.canonical import load_canonical
from crmsync.mapping.errors import Rejection
from crmsync.project import builtin_project_dir


def test_the_shipped_file_is_derived_from_the_canonical_schemas():
    # after a change of mappings/canonical: python -m crmsync.appsync.schema
    assert shipped() == derive(load_canonical(builtin_project_dir()))


def test_every_canonical_field_has_a_column_of_a_watermelondb_type():
    canonical = load_canonical(builtin_project_dir())
    app = AppSchema(canonical)
    assert set(app.tables) == {"contacts", "deals", "tasks"}
    for table, entity in app.tables.items():
        fields = set(canonical[entity]["properties"]) - {"id", "version", "deleted_at"}
        assert set(app.columns[table]) == fields
    for body in shipped()["tables"].values():
        assert all(c["type"] in ("string", "number", "boolean") for c in body["columns"])


def test_a_project_whose_canonical_schema_lost_a_field_is_refused():
    canonical = load_canonical(builtin_project_dir())
    del canonical["contact"]["properties"]["position"]
    with pytest.raises(UserError, match="contacts.position"):
        AppSchema(canonical)


@pytest.mark.parametrize(("enc", "canonical", "app"), [
    ("ms", dt.datetime(2026, 12, 6, 5, 0, 1, tzinfo=dt.timezone.utc), 1796533201000),
    ("decimal", Decimal("12500.50"), "12500.5"),
    ("decimal", Decimal("100"), "100"),
    ("json", '[{"value": "+7916", "type": "work"}]', '[{"value":"+7916","type":"work"}]'),
    ("json", {"source": "web"}, '{"source":"web"}'),
    ("boolean", True, True), ("text", "Ann", "Ann"), ("number", 3, 3), ("text", None, None),
])
def test_values_travel_both_ways(enc, canonical, app):
    assert to_app(canonical, enc) == app
    back = from_app(app, enc, "f")
    assert to_app(back, enc) == app


def test_a_pushed_time_is_cut_to_its_second():
    assert from_app(1796533201999, "ms", "updated_at") == "2026-12-06T05:00:01Z"


@pytest.mark.parametrize(("enc", "value"), [("ms", "yesterday"), ("ms", True), ("ms", float("nan")),
                                            ("decimal", "12,5"), ("decimal", "NaN"), ("json", "{oops"),
                                            ("text", 5), ("boolean", "yes"), ("number", "5")])
def test_a_value_of_the_wrong_kind_is_a_rejection_naming_the_field(enc, value):
    with pytest.raises(Rejection) as caught:
        from_app(value, enc, "some_field")
    assert caught.value.field == "some_field" and caught.value.direction == "app"


def test_the_sql_encoding_is_the_python_one():
    """The change scan encodes rows in DuckDB (sql_record); to_app is the reference it must match."""
    import json

    import duckdb

    from crmsync.appsync.schema import sql_record, to_app_record
    from crmsync.canonical.apply import current_rows
    from crmsync.canonical.tables import columns, ensure

    canonical = load_canonical(builtin_project_dir())
    app = AppSchema(canonical)
    con = duckdb.connect()
    ensure(con, canonical)
    con.execute("INSERT INTO canonical.deals (id, title, amount, currency, status, contacts, custom, closed_at) VALUES "
                "('d1', 'Big ё deal', 12500.50, 'EUR', 'won', '[\"c1\", \"c2\"]', '{\"source\": \"web\", \"n\": 2}', "
                "TIMESTAMPTZ '2026-12-06 05:00:01.75+00'), ('d2', NULL, 100, NULL, 'open', '[]', '{}', NULL), "
                "('d3', 't', 0, NULL, 'lost', '[]', '{}', NULL), ('d4', 't', -0.5, NULL, 'open', '[]', '{}', NULL)")
    con.execute("INSERT INTO canonical.tasks (id, title, completed, due_at, related) VALUES "
                "('t1', 'Call', true, TIMESTAMPTZ '2026-01-01 00:00:00+00', '{\"deal\": \"d1\"}'), "
                "('t2', NULL, NULL, NULL, NULL)")
    con.execute("INSERT INTO canonical.contacts (id, first_name, phones, emails) VALUES ('c1', 'Ann', "
                "'[{\"value\": \"+79161234567\", \"type\": \"work\"}]', '[]')")
    for table, entity in app.tables.items():
        cols = columns(canonical[entity])
        python = {i: to_app_record(r, app.columns[table])
                  for i, r in current_rows(con, entity, cols, [r[0] for r in con.execute(
                      f"SELECT id FROM canonical.{table}").fetchall()]).items()}
        encoded = con.execute(f"SELECT {sql_record(app.columns[table])} FROM canonical.{table} c").fetchall()
        sql = {json.loads(text)["id"]: json.loads(text) for (text,) in encoded}
        assert sql == python, table
        assert sql, table
