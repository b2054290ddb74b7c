"""The fake HubSpot's value rules, property checks, search engine and limits, without a server."""

from __future__ import annotations

import pytest

from crmsync.fakes import make_app
from crmsync.fakes.clock import Clock
from crmsync.fakes.hubspot import search
from crmsync.fakes.hubspot.associations import Associations, object_type, twin
from crmsync.fakes.hubspot.errors import ApiError
from crmsync.fakes.hubspot.limits import HubSpotLimits
from crmsync.fakes.hubspot.schema import DATE, DATETIME, ENUM, NUMBER, STRING, Property, option_value
from crmsync.fakes.hubspot.values import as_text, iso_ms, parse_ms


def test_iso_and_parse_round_trip_with_milliseconds():
    assert iso_ms(1767225600123) == "2026-01-01T00:00:00.123Z"
    assert parse_ms("2026-01-01T00:00:00.123Z") == 1767225600123
    assert parse_ms("2026-01-01T03:00:00+03:00") == 1767225600000
    assert parse_ms("2026-01-01") == 1767225600000 and parse_ms("1767225600000") == 1767225600000
    assert parse_ms("yesterday") is None and parse_ms("") is None
    assert (as_text(True), as_text(12.0), as_text(12.5), as_text(7)) == ("true", "12", "12.5", "7")


@pytest.mark.parametrize("prop, raw, stored, error", [
    (Property("n", "N", NUMBER, "number", "g"), 1500.0, "1500", None),
    (Property("n", "N", NUMBER, "number", "g"), "lots", None, "INVALID_FLOAT"),
    (Property("d", "D", DATE, "date", "g"), 1767225600000, "2026-01-01", None),
    (Property("d", "D", DATE, "date", "g"), "2026-01-01", "2026-01-01", None),
    (Property("d", "D", DATE, "date", "g"), 1767225600001, None, "INVALID_DATE"),
    (Property("t", "T", DATETIME, "date", "g"), "2026-01-01T03:00:00+03:00", "2026-01-01T00:00:00.000Z", None),
    (Property("e", "E", ENUM, "select", "g", [("a", "A"), ("b", "B")]), "b", "b", None),
    (Property("e", "E", ENUM, "select", "g", [("a", "A"), ("b", "B")]), "B", None, "INVALID_OPTION"),
    (Property("m", "M", ENUM, "checkbox", "g", [("a", "A"), ("b", "B")]), "a;b", "a;b", None),
    (Property("m", "M", ENUM, "checkbox", "g", [("a", "A"), ("b", "B")]), "a;c", None, "INVALID_OPTION"),
    (Property("email", "Email", STRING, "text", "g"), " X@Y.ORG ", "x@y.org", None),
    (Property("email", "Email", STRING, "text", "g"), "nope", None, "INVALID_EMAIL"),
    (Property("s", "S", STRING, "text", "g"), "", None, None),  # an empty string clears
])
def test_property_normalize(prop, raw, stored, error):
    got, problem = prop.normalize(raw)
    assert got == stored and (problem[0] if problem else None) == error


def test_option_values_are_ascii_slugs_of_labels():
    assert option_value("Сайт") == "sayt" and option_value("Cold call") == "cold_call"


def test_associations_are_kept_both_ways_with_twin_type_ids():
    links = Associations()
    assert links.add("contacts", 1, "deals", 7) is True and links.add("contacts", 1, "deals", 7) is False
    assert links.of("deals", 7, "contacts") == {1: {3}} and links.of("contacts", 1, "deals") == {7: {4}}
    assert twin("tasks", "deals", 216) == 215 and twin("tasks", "deals", 4) is None
    assert links.remove("deals", 7, "contacts", 1) and links.of("contacts", 1, "deals") == {}
    assert object_type("0-3") == "deals" and object_type("CONTACT") == "contacts" and object_type("x") is None


def _run(rows, body, props):
    return search.run(body, "deals", rows, props.get, lambda r, n: r.get(n), search.Limits(5, 6, 18))


def test_search_engine_filters_sorts_and_pages():
    props = {"amount": Property("amount", "A", NUMBER, "number", "g"),
             "dealname": Property("dealname", "D", STRING, "text", "g")}
    rows = [{"id": i, "amount": str(i * 10), "dealname": f"Deal {i}"} for i in range(1, 31)]
    page, total, nxt = _run(rows, {"filterGroups": [{"filters": [
        {"propertyName": "amount", "operator": "BETWEEN", "value": "50", "highValue": 150}]}],
        "sorts": [{"propertyName": "amount", "direction": "DESCENDING"}], "limit": 4}, props)
    assert total == 11 and [r["id"] for r in page] == [15, 14, 13, 12] and nxt == 4
    page, _, nxt = _run(rows, {"filterGroups": [{"filters": [
        {"propertyName": "dealname", "operator": "EQ", "value": "deal 7"}]}]}, props)
    assert [r["id"] for r in page] == [7] and nxt is None  # strings compare case-insensitively
    page, _, _ = _run(rows, {"filterGroups": [{"filters": [
        {"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "2*"}]}], "limit": 50}, props)
    assert [r["id"] for r in page] == [2, *range(20, 30)]


def test_search_window_and_limits():
    props = {"amount": Property("amount", "A", NUMBER, "number", "g")}
    rows = [{"id": i, "amount": "1"} for i in range(3)]
    with pytest.raises(ApiError) as err:
        _run(rows, {"after": "10000"}, props)
    assert err.value.status == 400 and err.value.category == "VALIDATION_ERROR"
    with pytest.raises(ApiError, match="at most 6"):
        _run(rows, {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 7}]},
             props)
    with pytest.raises(ApiError, match="at most 18"):
        _run(rows, {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}] * 6}] * 4},
             props)


def test_limits_count_the_day_by_the_clock_and_report_remaining():
    clock = Clock()
    clock.freeze(1767225600 + 10)
    limits = HubSpotLimits(burst=100, oauth_burst=110, daily=2, search_per_second=5, clock=clock)
    first = limits.check("t", oauth=False, search=False)
    assert first.policy is None and first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert limits.check("t", oauth=False, search=False).policy is None
    assert limits.check("t", oauth=False, search=False).policy == "DAILY"
    assert limits.check("o", oauth=True, search=False).policy is None  # OAuth apps have no daily count
    clock.advance(86400)
    assert limits.check("t", oauth=False, search=False).policy is None


def test_seeded_portal_is_deterministic_and_emails_unique():
    a, b = make_app("hubspot", contacts=400), make_app("hubspot", contacts=400)
    assert a.tables["contacts"].rows == b.tables["contacts"].rows
    emails = [r["props"]["email"] for r in a.tables["contacts"].rows.values() if r["props"].get("email")]
    assert len(emails) == len(set(emails)) and all(e == e.strip().lower() for e in emails)
    won = [r for r in a.tables["deals"].rows.values() if r["props"]["dealstage"] == "closedwon"]
    assert won and all(r["props"]["hs_is_closed_won"] == "true" for r in won)
