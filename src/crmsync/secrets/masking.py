"""Keep live secret values out of logs, error messages, ``--json`` output and tracebacks.

Two nets. (1) A registry of the exact secret values this process has seen (every value the vault
opens or a CRM hands us is registered before anything could print it); :func:`mask` replaces each
with ``***``. (2) Patterns for secrets we have not seen: ``Bearer <x>``, ``access_token=…``,
``auth=…`` and friends in URLs and JSON, a database URL's password, and what connectors declare when they
are loaded (:func:`register_param`: the query parameter a credential travels in; :func:`register_shape`: the
secret parts of a URL shape, such as the code segment of an inbound webhook URL).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
_MIN_LEN = 6  # shorter values would mask ordinary words; real secrets are far longer

_values: set[str] = set()
_lock = threading.Lock()
_pattern: re.Pattern[str] | None = None

_PARAMS = ("auth", "access_token", "refresh_token", "client_secret", "code", "token")  # common credential names
_params: tuple[str, ...] = _PARAMS
_query: re.Pattern[str] = re.compile("")  # set by _compile_params below
_shapes: dict[tuple[str, tuple[str, ...]], tuple[re.Pattern[str], tuple[str, ...]]] = {}

_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + MASK),
    (re.compile(r"(?i)(\"(?:access_token|refresh_token|client_secret|token|code|webhook_url)\"\s*:\s*\")[^\"]+"),
     r"\1" + MASK),
    # the password of a database URL (a Postgres store's DSN): postgresql://user:<password>@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s\"']+:)[^@\s\"']+@"), r"\1" + MASK + "@"),
]


def _compile_params() -> None:
    global _query
    names = "|".join(re.escape(p) for p in sorted(_params))
    _query = re.compile(rf"(?i)((?:^|[?&\s\"'])(?:{names})=)[^&\s\"']+")


_compile_params()


def register_param(name: str | None) -> None:
    """A query parameter that carries a credential (a connector's ``auth[].param``): its value is masked."""
    global _params
    if not name or name.lower() in {p.lower() for p in _params}:
        return
    with _lock:
        _params = (*_params, name)
        _compile_params()


def register_shape(pattern: re.Pattern[str], secret_groups: tuple[str, ...]) -> None:
    """A URL shape whose named groups ``secret_groups`` are secrets (a connector's webhook URL): wherever
    text matches ``pattern``, those groups are masked."""
    with _lock:
        _shapes.setdefault((pattern.pattern, secret_groups), (pattern, secret_groups))


def mask_url(text: str) -> str:
    """``text`` with what the shapes and parameter names say is secret masked; registered values are
    left alone (a URL stays readable: its host and path are no secret)."""
    for pattern, groups in list(_shapes.values()):
        text = _mask_groups(pattern, groups, text)
    return _query.sub(r"\1" + MASK, text)


def _mask_groups(pattern: re.Pattern[str], groups: tuple[str, ...], text: str) -> str:
    out, last = [], 0
    for match in pattern.finditer(text):
        spans = sorted(match.span(g) for g in groups if match.group(g))
        for start, end in spans:
            if start >= last:
                out += [text[last:start], MASK]
                last = end
    return "".join(out) + text[last:] if out else text


def register(value: str | None) -> None:
    """Remember ``value`` as secret for the life of this process."""
    global _pattern
    if not value or len(value) < _MIN_LEN:
        return
    with _lock:
        if value in _values:
            return
        _values.add(value)
        _pattern = re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))


def mask(text: str) -> str:
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, repl in _PATTERNS:
        text = regex.sub(repl, text)
    return mask_url(text)


class MaskingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with :func:`mask`; attach it to handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the record
            message = str(record.msg)
        record.msg, record.args = mask(message), None
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
