"""Matching new records while other processes do the same on a shared (Postgres) store.

Two workers pulling different connections that hold the same person must not both make a canonical row
for them. Each chunk that matches records takes a transaction-scoped advisory lock per entity
(``pg_advisory_xact_lock``), so one chunk at a time matches and inserts new rows, and the server releases
the lock when that chunk commits or rolls back (or its process dies) — never later, never by hand.

A matcher's index of candidate rows is read once per run; under the lock it takes in the rows other
connections made since. Those are found through ``sync.match_log``: each chunk that makes rows for records
no row matched logs their ids under the next *generation* of the entity. Generations are handed out
under the lock, so they follow the order the chunks committed in, and a matcher that has read up to
generation g only needs the ids logged above g. Entries older than a day are pruned (oldest generations
first, the newest always kept); a matcher that finds generations it has not seen pruned reads the whole
index again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

KEEP = dt.timedelta(days=1)  # far longer than one run's chunks are apart

DDL = ("CREATE TABLE IF NOT EXISTS sync.match_log (entity VARCHAR NOT NULL, generation BIGINT NOT NULL, "
       "canonical_id VARCHAR NOT NULL, logged_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
       "PRIMARY KEY (entity, generation, canonical_id))")


class MatchLog:
    """The lock and the log of one entity on one store connection, and how far a matcher has read it."""

    def __init__(self, con: Any, entity: str) -> None:
        self.con = con
        self.entity = entity
        self.seen: int | None = None  # the generation the matcher's index includes (None: not read yet)
        self._since: int = 0

    def lock(self) -> bool:
        """Take the entity's matching lock for the rest of the transaction. True when every row made since
        the matcher last read is in the log (read them with :meth:`since`); False when it must read all."""
        self.con.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [f"crmsync:match:{self.entity}"])
        if self.seen is None:  # the matcher's first chunk
            self.con.execute(DDL)  # under the lock: two first workers do not race to create it
            self._prune()
        first, last = self.con.execute("SELECT min(generation), max(generation) FROM sync.match_log WHERE entity = ?",
                                       [self.entity]).fetchone()
        complete = self.seen is not None and (first is None or self.seen >= first - 1)
        self._since, self.seen = self.seen or 0, last or 0
        return complete

    def since(self) -> str:
        """SQL selecting the ids logged after the matcher's previous read (the lock is held)."""
        return (f"SELECT canonical_id FROM sync.match_log WHERE entity = '{self.entity}' "
                f"AND generation > {int(self._since)}")

    def append(self, ids: list[str]) -> None:
        """Log the chunk's new rows as the next generation (the lock is held until the chunk commits)."""
        if not ids:
            return
        generation = (self.seen or 0) + 1
        self.con.execute("INSERT INTO sync.match_log (entity, generation, canonical_id) "
                         "SELECT ?, ?, unnest(?) ON CONFLICT DO NOTHING", [self.entity, generation, list(ids)])
        self.seen = generation  # the matcher's own rows are linked to its connection: never its candidates

    def _prune(self) -> None:
        cutoff = dt.datetime.now(dt.timezone.utc) - KEEP
        old = self.con.execute("SELECT max(generation) FROM sync.match_log WHERE entity = ? AND logged_at < ?",
                               [self.entity, cutoff]).fetchone()[0]
        if old is not None:  # a prefix of generations, and never the newest (the next one counts from it)
            self.con.execute("DELETE FROM sync.match_log WHERE entity = ? AND generation <= ? AND generation < "
                             "(SELECT max(generation) FROM sync.match_log WHERE entity = ?)",
                             [self.entity, old, self.entity])
