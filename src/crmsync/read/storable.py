"""Every record a CRM sends loads into the raw tables, whatever values it holds.

dlt writes load files with orjson and DuckDB types the raw columns from the first values it saw, so
one value could stop a whole read (and, left pending, every read after it): an integer beyond 64
bits ("Integer exceeds 64-bit range"), a number too large for a column typed BIGINT, NaN (orjson
would silently write null), a lone surrogate (not UTF-8), a NUL character (U+0000: PostgreSQL's
text and jsonb cannot hold it, so a Postgres store's load would fail as a whole). Such a value is put in an envelope
(:mod:`crmsync.mapping.raw_values`), which dlt loads as JSON — in a variant column beside a typed
one, which the pull folds back (:func:`fold_variants`) — and the mapping reads it back exactly or
sets the record aside naming the field. Nothing becomes null on the way.

A page is parsed exactly too (:func:`loads_exact`): orjson reads an integer past 64 bits as a
rounded float, so a page whose text could hold one is parsed by the standard library.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from crmsync.jsontext import loads
from crmsync.mapping.raw_values import ENVELOPED, INT64, number_envelope, text_problem, unreadable_envelope

# what only the standard library reads, and a NUL (a JSON page can only hold it escaped)
_NOT_JSON = re.compile(rb"NaN|Infinity|\\u[dD][89a-fA-F]|\\u0000")
VARIANT = "\u25b6v_"  # dlt's variant column: "price" holding text in a BIGINT column lands in "price▶v_text"
# A page is scanned with every digit read as 0 (and E as e, + as -), so that plain substring searches
# do what regexes did (a 350 KB page: 1.7 ms, was 10 ms for four regex searches, 2.5 ms for ten
# substring searches — as long as parsing it).
_SCAN_VIEW = bytes.maketrans(b"123456789E+", b"000000000e-")
_LONG_DIGITS = b"0" * 19  # an integer that may not fit in 64 bits (or a long digit string)
_EXPONENT_TAILS = (b"e0", b"e-0")  # after a digit: a float such as 1e26 or 1.5E+30 (no BIGINT takes it)


class ScannedPage(bytes):
    """A page's bytes with what :func:`page_scan` said of them, so the page is scanned once: by the
    fetch thread, which needs to parse it anyway, not again by the reader."""

    long_digits: bool
    plain: bool


class ParsedPage(list):  # type: ignore[type-arg]
    """A page's records, parsed (exactly, :func:`loads_exact`) by the fetch thread, which parses every
    page anyway to find the next one: the reader takes them as they are instead of parsing the bytes
    again (a 100k-record read: ~1.5 s of CPU). ``plain``: :func:`page_scan`'s second answer (no
    record needs :func:`storable`); ``weight``: what it holds in memory, for the page queue's budget."""

    plain: bool
    weight: int


PARSED_WEIGHT = 5  # a parsed page's Python objects per byte of its body (a 350 KB page of 250 contacts: 4.75)


def parsed_page(records: list[Any], body: bytes) -> ParsedPage:
    page = ParsedPage(records)
    page.plain = page_scan(body)[1]
    page.weight = len(body) * PARSED_WEIGHT
    return page


def scanned(body: bytes) -> ScannedPage:
    page = ScannedPage(body)
    page.long_digits, page.plain = page_scan(body)
    return page


def page_scan(body: bytes) -> tuple[bool, bool]:
    """(the page may hold an integer past 64 bits, it holds nothing :func:`storable` would change: no
    long integer, no float in exponent form, no NaN, Infinity, surrogate or NUL escape). Most pages are
    plain: their records skip the walk."""
    if isinstance(body, ScannedPage):
        return body.long_digits, body.plain
    view = body.translate(_SCAN_VIEW)
    if _LONG_DIGITS in view:
        return True, False
    for tail in _EXPONENT_TAILS:
        at = view.find(tail)
        while at != -1:
            if at and view[at - 1] == 0x30:  # a digit before the e
                return False, False
            at = view.find(tail, at + 1)
    odd = b"NaN" in view or b"Infinity" in view or (b"\\u" in body and _NOT_JSON.search(body) is not None)
    return False, not odd


def loads_exact(body: bytes | str, *, long_digits: bool | None = None) -> Any:
    """A CRM answer as Python values, integers exact at any size (NaN and lone surrogates kept, to
    be enveloped by :func:`storable`). ``long_digits``: what :func:`page_scan` said, if it was asked."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if long_digits is None:
        long_digits = raw.long_digits if isinstance(raw, ScannedPage) else _LONG_DIGITS in raw.translate(_SCAN_VIEW)
    if not long_digits:
        try:
            # orjson takes only exact bytes: a ScannedPage (a subclass) went to the standard library every time
            return loads(memoryview(raw) if type(raw) is not bytes else raw)
        except ValueError:
            pass  # NaN, Infinity, a lone surrogate: the standard library reads them
    return json.loads(raw)


def page_is_plain(body: bytes) -> bool:
    """:func:`page_scan`'s second answer."""
    return page_scan(body)[1]


def _plain(value: Any) -> bool:
    """Nothing in ``value`` needs an envelope (the common case, checked without building anything)."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            return False
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if kind is int:
        return INT64[0] <= value <= INT64[1]
    if kind is float:
        return math.isfinite(value) and abs(value) < 2**63
    if kind is list:
        for item in value:  # noqa: SIM110 - a loop: all(genexpr) costs ~3x per call on this path
            if not _plain(item):
                return False
        return True
    if kind is dict:
        for item in value.values():
            if not _plain(item):
                return False
    return True


def storable(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with every value the raw tables cannot keep exactly put in an envelope (the same
    object when there is none)."""
    for value in row.values():
        if type(value) is str:
            if (not value.isascii() or "\x00" in value) and not _plain(value):
                break
        elif value is not None and not _plain(value):
            break
    else:
        return row
    found = False

    def fix(value: Any) -> Any:
        nonlocal found
        kind = type(value)
        if kind is str:
            if "\x00" in value:  # kept visible in the envelope's text, which a Postgres store can hold
                found = True
                shown = value.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")
                return unreadable_envelope(shown, text_problem(value) or "holds a NUL character")
            if value.isascii():
                return value
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                found = True
                return unreadable_envelope(value.encode("utf-8", "backslashreplace").decode(),
                                           "text that is not valid Unicode (a lone surrogate)")
            return value
        if kind is int:
            if INT64[0] <= value <= INT64[1]:
                return value
            found = True
            return number_envelope(str(value))
        if kind is float:
            if not math.isfinite(value):
                found = True
                return unreadable_envelope(str(value), "not a number")
            if abs(value) >= 2**63:  # dlt would cast it to a 64-bit integer in a BIGINT column and fail
                found = True
                return number_envelope(repr(value))
            return value
        if kind is dict:
            return {k: fix(v) for k, v in value.items()}
        if kind is list:
            return [fix(v) for v in value]
        return value

    fixed = {k: fix(v) for k, v in row.items()}
    if not found:
        return row
    fixed[ENVELOPED] = True
    return fixed


def variant_columns(names: list[str]) -> list[tuple[str, str]]:
    """(variant column, the column it stands for) among a raw table's columns."""
    return [(name, name.split(VARIANT, 1)[0]) for name in names if VARIANT in name]


def fold_variants(row: dict[str, Any], variants: list[tuple[str, str]]) -> dict[str, Any]:
    """A raw row with dlt's variant columns put back in their columns' place: a value whose type
    did not fit its column's (text in a BIGINT column, an envelope anywhere) was loaded beside it."""
    for variant, column in variants:
        value = row.pop(variant, None)
        if value is not None:
            row[column] = value
    return row
