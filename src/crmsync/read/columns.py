"""Columns crmsync adds to every raw row, and how a raw row's content is fingerprinted.

``_cursor``: the record's modification time as epoch seconds (comparable whatever the CRM's date
format). ``_rowhash``: a hash of the record exactly as the CRM sent it. Incremental reads are
inclusive of the last cursor value, so a record changed again within that same second comes back
with a cursor already seen: only its content tells the change apart from the copy we hold.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from crmsync.jsontext import dump_bytes

CURSOR_COLUMN = "_cursor"
ROWHASH_COLUMN = "_rowhash"
ENGINE = (CURSOR_COLUMN, ROWHASH_COLUMN)


def row_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in ENGINE} \
        if CURSOR_COLUMN in record or ROWHASH_COLUMN in record else record  # as sent: no copy needed
    try:
        text = dump_bytes(body, sort_keys=True)
    except UnicodeEncodeError:  # a lone surrogate: still a stable fingerprint
        text = json.dumps(body, default=str, sort_keys=True).encode()
    return hashlib.blake2b(text, digest_size=12).hexdigest()


def is_engine_column(name: str) -> bool:
    return name.startswith("_dlt_") or name in ENGINE


# Raw column types DuckDB hands to Python as the very value its JSON text parses to (an int, a float, a str,
# a bool): read as they are. A JSON column comes as its text, parsed by the reader; any other type goes through
# to_json, as whole rows once did, so its value is what it always was. Both readers of raw rows take them so:
# record by record (crmsync.pull._raw_values) and by column (crmsync.mapping.columnar).
NATIVE_TYPES = frozenset({"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
                          "UTINYINT", "DOUBLE", "VARCHAR", "BOOLEAN"})
