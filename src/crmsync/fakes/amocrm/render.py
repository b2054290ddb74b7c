"""Stored rows → the JSON a client reads: absolute ``_links`` and the ``_embedded`` blocks ``with=`` asks for.

Rows keep links to other records as bare ids; hrefs depend on the host the client called, so they
are added here, per request.
"""

from __future__ import annotations

from typing import Any

EMBEDDED = {"contacts": ("tags", "companies"), "leads": ("tags", "companies"), "companies": ("tags",)}


def link(base_url: str, entity: str, rid: int) -> dict[str, Any]:
    return {"self": {"href": f"{base_url}/api/v4/{entity}/{rid}"}}


def ref(base_url: str, entity: str, rid: int, **extra: Any) -> dict[str, Any]:
    return {"id": rid, **extra, "_links": link(base_url, entity, rid)}


class Renderer:
    """Renders rows of one entity for one request (``with_`` = the parsed ``with=`` list)."""

    def __init__(self, base_url: str, entity: str, with_: set[str], tables: dict[str, Any],
                 leads_by_contact: dict[int, list[int]] | None = None) -> None:
        self.base = base_url
        self.entity = entity
        self.with_ = with_
        self.tables = tables
        self.leads_by_contact = leads_by_contact or {}

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        # A shallow copy is enough: the answer is serialised at once, and writes replace a stored
        # row's nested values instead of changing them in place (deepcopy was 60% of a list call).
        out = dict(row)
        embedded = out.pop("_embedded", None)
        out["_links"] = link(self.base, self.entity, row["id"])
        if embedded is None:  # tasks carry no _embedded
            return out
        alive = self.tables
        shown: dict[str, Any] = {"tags": embedded.get("tags", [])}
        if "companies" in EMBEDDED.get(self.entity, ()):
            shown["companies"] = [ref(self.base, "companies", cid) for cid in embedded.get("companies", [])
                                  if cid in alive["companies"].rows]
        if self.entity == "leads" and "contacts" in self.with_:
            shown["contacts"] = [ref(self.base, "contacts", c["id"], is_main=c["is_main"])
                                 for c in embedded.get("contacts", []) if c["id"] in alive["contacts"].rows]
        if self.entity == "contacts" and "leads" in self.with_:
            shown["leads"] = [ref(self.base, "leads", lid) for lid in self.leads_by_contact.get(row["id"], [])]
        out["_embedded"] = shown
        return out


def deleted_stub(row: dict[str, Any], base_url: str, entity: str) -> dict[str, Any]:
    """A restorable deleted record as ``with=only_deleted`` lists it: id, updated_at, is_deleted, rest null."""
    keep = {"id", "updated_at", "is_deleted", "account_id", "_embedded"}
    out = {k: (row[k] if k in keep else None) for k in row if k != "_embedded"}
    out["is_deleted"] = True
    out["_links"] = link(base_url, entity, row["id"])
    return out


def leads_by_contact(leads: dict[int, dict[str, Any]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for lid, lead in leads.items():
        for c in lead["_embedded"].get("contacts", []):
            out.setdefault(c["id"], []).append(lid)
    return out
