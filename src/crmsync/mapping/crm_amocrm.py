"""AmoCRM / Kommo metadata → :class:`FieldCatalog`.

``metadata`` keys, each the ``_embedded`` list of the response the reader fetched:

* ``custom_fields``: ``{entity: [...]}`` from ``GET /api/v4/{contacts|leads}/custom_fields``
  (keyed by connector entity: ``contact``, ``deal``; tasks have none);
* ``pipelines``: from ``GET /api/v4/leads/pipelines`` (each with ``_embedded.statuses``);
* ``users``: from ``GET /api/v4/users``;
* ``companies``: from ``GET /api/v4/companies`` (id → name, for contacts' ``company``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import CustomField, FieldCatalog, Stage, User, register_catalog

WON, LOST = 142, 143  # system stages shared by every AmoCRM pipeline


def build(metadata: Mapping[str, Any], entity: str) -> FieldCatalog:
    fields = [CustomField(id=f["id"], name=f.get("name") or "", code=f.get("code"), type=f.get("type") or "text",
                          multiple=f.get("type") in ("multiselect", "multitext"),
                          options={str(e["id"]): e["value"] for e in f.get("enums") or ()})
              for f in (metadata.get("custom_fields") or {}).get(entity) or ()]
    users = [User(u["id"], u.get("email"), u.get("name") or "") for u in metadata.get("users") or ()]
    stages = [Stage(p["id"], p["name"], s["id"], s["name"],
                    "won" if s["id"] == WON else "lost" if s["id"] == LOST else "open")
              for p in metadata.get("pipelines") or ()
              for s in (p.get("_embedded") or {}).get("statuses") or ()]
    companies = {c["id"]: c.get("name") or "" for c in metadata.get("companies") or ()}
    return FieldCatalog("amocrm", entity, fields, users, stages, companies)


register_catalog("amocrm", build)
