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
