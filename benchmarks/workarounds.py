"""A fix the benchmarks need that belongs to a file this branch does not own (src/crmsync/pull.py).

``pull._raw_rows`` streams raw rows with ``fetchmany`` from ``con.execute(...)``, but DuckDB's
``execute`` returns the connection itself, and ``apply_pulled`` runs its own queries on that same
connection after every 2,000 rows — which replaces the pending result. Any pull of more than 2,000
new rows of one entity then fails (``TypeError: the JSON object must be str ... not int``) or, worse,
reads another query's rows. The fix is one line in pull.py: read through ``con.cursor()``, a
separate cursor whose result survives the writes. Until that lands, :func:`apply` installs exactly
that in this process (and in the benchmark's child processes). Remove this module once it has.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def _raw_rows(con: Any, dataset: str, entity: str, after: int) -> Iterator[dict[str, Any]]:
    from crmsync import pull

    if not pull._table_exists(con, dataset, entity):
        return
    cursor = con.cursor()  # the fix: a result of its own, untouched by apply's statements on ``con``
    try:
        cursor.execute(f'SELECT to_json(t) FROM "{dataset}"."{entity}" t WHERE {pull._LOAD_US} > ?', [after])
        while True:
            batch = cursor.fetchmany(2000)
            if not batch:
                return
            for (text,) in batch:
                row = json.loads(text)
                yield {k: v for k, v in row.items() if not k.startswith("_dlt_") and k != "_cursor"}
    finally:
        cursor.close()


def apply() -> None:
    import inspect

    from crmsync import pull

    if ".cursor()" not in inspect.getsource(pull._raw_rows):  # not fixed upstream yet
        pull._raw_rows = _raw_rows
