"""JSON text as crmsync writes and reads it: fingerprints, ``sync.*`` JSON columns, staging files.

orjson does the work (several times faster than the standard library on the per-record paths, and
already installed with dlt). Its output is compact and UTF-8, like ``json.dumps(…, ensure_ascii=False,
separators=(",", ":"))``; dates and times go through ``str`` as the standard library's ``default=str``
did, so history written before and after reads the same. The rare value orjson refuses (an integer
beyond 64 bits) falls back to the standard library rather than failing a run.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
_SORTED = _OPTS | orjson.OPT_SORT_KEYS


def dumps(value: Any) -> str:
    return dump_bytes(value).decode()


def dump_bytes(value: Any, *, sort_keys: bool = False) -> bytes:
    try:
        return orjson.dumps(value, default=str, option=_SORTED if sort_keys else _OPTS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=sort_keys).encode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)
