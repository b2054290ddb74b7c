"""Keep live secret values out of logs, error messages, ``--json`` output and tracebacks.

Two nets. (1) A registry of the exact secret values this process has seen (every value the vault
opens or a CRM hands us is registered before anything could print it); :func:`mask` replaces each
with ``***``. (2) Patterns for secrets we have not seen: ``Bearer <x>``, ``access_token=…``,
``auth=…`` and friends in URLs and JSON, the code segment of a Bitrix24 webhook URL, a database URL's password.
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

_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + MASK),
    (re.compile(r"(?i)((?:^|[?&\s\"'])(?:auth|access_token|refresh_token|client_secret|code|token)=)[^&\s\"']+"),
     r"\1" + MASK),
    (re.compile(r"(?i)(\"(?:access_token|refresh_token|client_secret|token|code|webhook_url)\"\s*:\s*\")[^\"]+"),
     r"\1" + MASK),
    (re.compile(r"(/rest/\d+/)[^/\s?\"']+"), r"\1" + MASK),
    # the password of a database URL (a Postgres store's DSN): postgresql://user:<password>@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s\"']+:)[^@\s\"']+@"), r"\1" + MASK + "@"),
]


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
    return text


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
