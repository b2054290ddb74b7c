"""The limits a mapping declares for a CRM field, checked before a push sends anything."""

import pytest

from crmsync.push.checks import limit_problem


@pytest.mark.parametrize(("value", "limits", "kind", "problem"), [
    ("Я" * 51, {"max_length": 50}, "update", "51 characters long; the CRM keeps at most 50"),
    ("Я" * 50, {"max_length": 50}, "update", None),
    (["ok", "x" * 9], {"max_length": 8}, "update", "9 characters long"),
    (1e17, {"maximum": "9999999999999999.99"}, "update", "above 9999999999999999.99"),
    (9999999999999999, {"maximum": "9999999999999999.99"}, "update", None),
    (-1, {"minimum": 0}, "update", "below 0"),
    (10.125, {"places": 2}, "update", "more than 2 decimal places"),
    (10.5, {"places": 0}, "update", "more than 0 decimal places"),
    (None, {"required": True}, "create", "cannot be created without it"),
    ("", {"required": True}, "update", "cannot be cleared"),
    (None, {"max_length": 3}, "create", None),
    ("abc", {"maximum": 5}, "update", None),  # a text is not judged by numeric limits
])
def test_limit_problems_name_the_limit(value, limits, kind, problem):
    found = limit_problem(value, limits, kind)
    assert (found is None) if problem is None else (problem in found)
