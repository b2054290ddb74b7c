"""How the mapping layer turns CRM-side ids of linked records into canonical ids and back.

The engine (the reader/writer) owns canonical ids and ``sync.links``; the mapping layer only asks.
CRM ids are always passed as strings (AmoCRM's ``21300034`` → ``"21300034"``); ``kind`` is a
canonical entity (``contact``, ``deal``) or ``company``.
"""

from __future__ import annotations

from typing import Protocol


class Resolver(Protocol):
    def to_canonical(self, kind: str, crm_id: str) -> str | None:
        """Pull: the canonical id of CRM record ``crm_id`` of ``kind``.

        A reader usually mints an id for a record it has not seen yet, so entity order does not
        matter. None means the reference cannot be resolved: the record is set aside (a company may
        instead map to null, see the ``link`` transform's ``missing``).
        """

    def to_crm(self, kind: str, canonical_id: str) -> str | None:
        """Push: the CRM id of canonical record ``canonical_id`` in this connection, or None when
        it has none yet (the writer must create the linked record first)."""


class KeyResolver:
    """Canonical id = ``"<kind>:<crm id>"``. For golden tests, previews and single-CRM use."""

    def to_canonical(self, kind: str, crm_id: str) -> str | None:
        return f"{kind}:{crm_id}"

    def to_crm(self, kind: str, canonical_id: str) -> str | None:
        prefix = f"{kind}:"
        return canonical_id[len(prefix):] if canonical_id.startswith(prefix) else None
