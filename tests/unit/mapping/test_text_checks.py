"""``deep_text_problem`` (searched in its loops since issue 18) answers as the plain recursive walk did."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.mapping.raw_values import deep_text_problem, text_problem


def _reference(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return text_problem(value)
    if kind is list:
        for item in value:
            found = _reference(item)
            if found:
                return found
    elif kind is dict:
        for item in value.values():
            found = _reference(item)
            if found:
                return found
    return None


TEXTS = st.one_of(st.text(max_size=5), st.sampled_from(["ok", "a\x01b", "\ud800", "x\x7f", "tab\tnl\n", "\x00"]))
SCALARS = st.one_of(TEXTS, st.none(), st.booleans(), st.integers(), st.floats(), st.tuples(TEXTS))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=4)),
                      max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(value=VALUES)
def test_deep_text_problem_finds_the_same_first_problem(value: Any) -> None:
    assert deep_text_problem(value) == _reference(value)
