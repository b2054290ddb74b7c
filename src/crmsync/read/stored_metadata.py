"""The CRM metadata a pull fetched (custom fields, stages, users), kept in the store for ``crmsync remap``.

A remap maps the raw records again without calling the CRM, so the catalog its mappings look custom
fields and stages up in must come from the store: each pull saves what it fetched
(:func:`save_metadata`), per connection and metadata entry, the newest copy winning. A remap hands
:func:`stored_metadata` to the same :func:`crmsync.read.metadata.fetch_metadata` a pull uses, with a
session that refuses every request (:class:`OfflineSession`): the selection of what a mapping needs
stays in one place, and an entry no pull has stored yet becomes a message, never a CRM call.
"""

from __future__ import annotations

from typing import Any

from crmsync.errors import UserError
from crmsync.jsontext import dumps, loads

DDL = """
CREATE SCHEMA IF NOT EXISTS sync;
CREATE TABLE IF NOT EXISTS sync.metadata (       -- the CRM metadata the last pull fetched (crmsync remap)
    connection VARCHAR NOT NULL, key VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,                     -- '' for an entry that is not per entity
    value JSON, fetched_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (connection, key, entity)
);
"""


def _is_request(spec: Any) -> bool:
    return isinstance(spec, dict) and ("path" in spec or "method" in spec)


def save_metadata(con: Any, connection: str, connector: dict[str, Any], fetched: dict[str, Any]) -> None:
    """Keep what a run fetched (``fetched``: as :func:`~crmsync.read.metadata.fetch_metadata` filled it)."""
    rows: list[list[Any]] = []
    for key, spec in (connector.get("metadata") or {}).items():
        if key not in fetched:
            continue
        if _is_request(spec):
            rows.append([connection, key, "", dumps(fetched[key])])
        else:
            rows.extend([connection, key, entity, dumps(value)] for entity, value in (fetched[key] or {}).items())
    if not rows:
        return
    con.execute(DDL)
    con.executemany("INSERT OR REPLACE INTO sync.metadata (connection, key, entity, value, fetched_at) "
                    "VALUES (?, ?, ?, ?, now())", rows)


def stored_metadata(con: Any, connection: str) -> dict[str, Any]:
    """What pulls stored for ``connection``, shaped as ``fetch_metadata`` returns it."""
    con.execute(DDL)
    out: dict[str, Any] = {}
    for key, entity, value in con.execute("SELECT key, entity, value FROM sync.metadata WHERE connection = ?",
                                          [connection]).fetchall():
        if entity:
            out.setdefault(key, {})[entity] = loads(value)
        else:
            out[key] = loads(value)
    return out


class OfflineSession:
    """A session that makes no request: a remap needs metadata no pull has stored."""

    def __init__(self, pipeline: str, connection: str) -> None:
        self.pipeline, self.connection = pipeline, connection
        self.base_url = ""

    def _refuse(self, url: str) -> Any:
        what = url.strip("/").rsplit("/", 1)[-1] or url
        raise UserError(
            f"remap needs CRM metadata ({what}) that no pull of connection {self.connection!r} has stored yet "
            "(a store pulled before crmsync kept it, or a mapping that now uses custom fields or stages it did "
            f"not); run `crmsync pull {self.pipeline} --full-refresh` once (it fetches and stores the metadata "
            f"its mappings use), then `crmsync remap {self.pipeline}` again")

    def get(self, url: str, **_: Any) -> Any:
        return self._refuse(url)

    def post(self, url: str, **_: Any) -> Any:
        return self._refuse(url)

    def request(self, method: str, url: str, **_: Any) -> Any:
        return self._refuse(url)
