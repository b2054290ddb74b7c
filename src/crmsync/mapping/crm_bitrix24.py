"""Bitrix24 metadata → :class:`FieldCatalog`.

``metadata`` keys, each the ``result`` of the call the reader made:

* ``fields``: ``{entity: {...}}`` from ``crm.contact.fields`` / ``crm.deal.fields`` (user fields,
  ``UF_CRM_…``, become custom fields, named by their label);
* ``statuses``: from ``crm.status.list`` (deal stages are ``ENTITY_ID`` ``DEAL_STAGE[_n]``,
  ``SEMANTICS`` ``S`` won, ``F`` lost);
* ``categories``: ``result.categories`` from ``crm.category.list {entityTypeId: 2}`` (pipelines);
* ``users``: from ``user.get``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import CustomField, FieldCatalog, Stage, User, register_catalog


def build(metadata: Mapping[str, Any], entity: str) -> FieldCatalog:
    fields = [CustomField(id=key, name=meta.get("listLabel") or meta.get("formLabel") or meta.get("title") or key,
                          code=key, type=meta.get("type") or "string", multiple=bool(meta.get("isMultiple")),
                          options={str(i["ID"]): i["VALUE"] for i in meta.get("items") or ()})
              for key, meta in ((metadata.get("fields") or {}).get(entity) or {}).items() if key.startswith("UF_")]
    users = [User(u["ID"], u.get("EMAIL") or None, " ".join(x for x in (u.get("NAME"), u.get("LAST_NAME")) if x))
             for u in metadata.get("users") or ()]
    pipelines = {str(c["id"]): c["name"] for c in metadata.get("categories") or ()}
    stages = []
    for s in metadata.get("statuses") or ():
        entity_id = str(s.get("ENTITY_ID") or "")
        if entity_id != "DEAL_STAGE" and not entity_id.startswith("DEAL_STAGE_"):
            continue
        category = entity_id.rpartition("_")[2] if entity_id != "DEAL_STAGE" else "0"
        status = {"S": "won", "F": "lost"}.get(s.get("SEMANTICS") or "", "open")
        stages.append(Stage(category, pipelines.get(category, category), s["STATUS_ID"], s["NAME"], status))
    companies = {c["ID"]: c.get("TITLE") or "" for c in metadata.get("companies") or ()}
    return FieldCatalog("bitrix24", entity, fields, users, stages, companies)


register_catalog("bitrix24", build)
