"""Values that a store cannot hold as a CRM sent them, and text that no CRM field should hold.

The reader (:mod:`crmsync.read.storable`) loads every record, whatever it holds. A value the raw
tables cannot keep exactly — an integer beyond 64 bits, a number too large for a BIGINT column, a
NaN, text that is not valid Unicode — is kept in an *envelope*, a small JSON object::

    {"$crmsync": "number", "text": "10000000000000000000000000"}      exact, read back as that text
    {"$crmsync": "unreadable", "text": "NaN", "reason": "…"}         the record is set aside

and the row is marked with :data:`ENVELOPED` so the mapper knows to look inside its values (most
rows never carry one, and then cost nothing). :func:`unwrap` gives the mapping the value back, or
the reason the field cannot be read.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

TAG = "$crmsync"
ENVELOPED = "_crmsync_enveloped"  # a raw column: this row holds at least one envelope
INT64 = (-(2**63), 2**63 - 1)
_ENVELOPE_TEXT = '{"' + TAG + '"'

# C0 controls other than tab, line feed and carriage return, DEL, and lone surrogates: no CRM
# field holds them as typed (most drop or reject them; JSON and DuckDB tools choke on some).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SEARCH = _BAD_TEXT.search


class Unreadable(ValueError):
    """A raw value the mapping cannot take; ``str()`` is the reason."""


def number_envelope(text: str) -> dict[str, str]:
    return {TAG: "number", "text": text}


def unreadable_envelope(text: str, reason: str) -> dict[str, str]:
    return {TAG: "unreadable", "text": text, "reason": reason}


def unwrap(value: Any) -> Any:
    """``value`` with its envelopes opened: a number's exact text, or :class:`Unreadable`. A text
    column keeps an envelope as its JSON text (dlt writes an object into a text column that way)."""
    if isinstance(value, str) and value.startswith(_ENVELOPE_TEXT):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        kind = value.get(TAG)
        if kind == "number":
            return value.get("text")
        if kind == "unreadable":
            raise Unreadable(f"{value.get('reason')}: {value.get('text')!r}")
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def text_problem(text: str) -> str | None:
    """Why ``text`` is malformed for a CRM text field, or None."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    char = found.group()
    kind = "a lone surrogate (not valid Unicode)" if "\ud800" <= char <= "\udfff" else "a control character"
    return f"holds {kind} U+{ord(char):04X} at position {found.start()}"


def deep_text_problem(value: Any) -> str | None:
    """:func:`text_problem` of the first malformed text anywhere in ``value`` (lists, objects).

    Texts in a list or object are searched in the loop, not through a call each (a phone list's
    texts are most of what a contact's checks read)."""
    kind = type(value)
    if kind is str:
        return text_problem(value) if _SEARCH(value) else None
    if kind is list or kind is dict:
        for item in value if kind is list else value.values():
            inner = type(item)
            if inner is str:
                if _SEARCH(item):
                    return text_problem(item)
            elif inner is list or inner is dict:
                found = deep_text_problem(item)
                if found:
                    return found
    return None


def exact_decimal(value: Any) -> Decimal | None:
    """``value`` (a number or numeric text) as an exact Decimal; None if it is not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return Decimal(repr(value))  # the shortest text that reads back as this double: what the CRM sent
    if isinstance(value, Decimal | int):
        number = Decimal(value)
    else:
        try:
            number = Decimal(str(value).strip().replace(" ", "").replace(",", "."))
        except (InvalidOperation, ValueError):
            return None
    return number if number.is_finite() else None
