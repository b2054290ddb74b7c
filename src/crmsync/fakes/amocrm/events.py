"""The account's event feed (``GET /api/v4/events``): what changed, including deletions.

Deleted leads and contacts vanish from lists, so the feed is how a sync learns about them. Event ids
are ULID-like (26 lowercase Crockford base32 characters, time first), drawn from a seeded stream so
a reset fake gives the same ids again.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from ..server import Request, Response
from .listing import BadQuery, hal_page, ints, strings, time_range

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
ENTITY_OF = {"contacts": "contact", "leads": "lead", "tasks": "task", "companies": "company"}
TYPES = ["lead_added", "lead_deleted", "lead_restored", "lead_status_changed", "contact_added", "contact_deleted",
         "contact_restored", "company_added", "company_deleted", "company_restored", "task_added", "task_deleted",
         "task_restored", "task_completed", "task_text_changed", "task_deadline_changed", "task_type_changed",
         "task_result_added", "entity_linked", "entity_unlinked", "entity_responsible_changed",
         "name_field_changed", "sale_field_changed", "custom_field_value_changed"]


class EventLog:
    def __init__(self, seed: int, account_id: int) -> None:
        self.account_id = account_id
        self._rng = random.Random(f"{seed}:events")
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []

    def _ulid(self, at: int) -> str:
        ms = at * 1000 + self._rng.randrange(1000)
        head = "".join(_CROCKFORD[(ms >> (5 * i)) & 31] for i in reversed(range(10)))
        tail = "".join(self._rng.choice(_CROCKFORD) for _ in range(16))
        return head + tail

    def add(self, type_: str, entity: str, entity_id: int, created_by: int, created_at: int,
            value_after: list | None = None, value_before: list | None = None) -> dict[str, Any]:
        """Record an event; ``entity`` may be the plural table name or the singular event name."""
        with self._lock:
            event = {"id": self._ulid(created_at), "type": type_, "entity_id": entity_id,
                     "entity_type": ENTITY_OF.get(entity, entity), "created_by": created_by,
                     "created_at": created_at, "value_after": value_after or [],
                     "value_before": value_before or [], "account_id": self.account_id}
            self.events.append(event)
            return event

    def get(self, event_id: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["id"] == event_id), None)

    def select(self, filters: dict[str, Any], newest_first: bool) -> list[dict[str, Any]]:
        rows = list(self.events)
        if "type" in filters:
            types = set(strings(filters["type"]))
            rows = [e for e in rows if e["type"] in types]
        if "entity" in filters:
            kinds = {ENTITY_OF.get(k, k) for k in strings(filters["entity"])}
            rows = [e for e in rows if e["entity_type"] in kinds]
        if "entity_id" in filters:
            ids = set(ints(filters["entity_id"], "filter.entity_id"))
            rows = [e for e in rows if e["entity_id"] in ids]
        if "id" in filters:
            wanted = set(strings(filters["id"]))
            rows = [e for e in rows if e["id"] in wanted]
        if "created_by" in filters:
            users = set(ints(filters["created_by"], "filter.created_by"))
            rows = [e for e in rows if e["created_by"] in users]
        if filters.get("created_at") not in (None, ""):
            lo, hi = time_range(filters["created_at"], "filter.created_at")
            rows = [e for e in rows if (lo is None or e["created_at"] >= lo) and (hi is None or e["created_at"] <= hi)]
        rows.sort(key=lambda e: (e["created_at"], e["id"]), reverse=newest_first)
        return rows


def render_event(base_url: str, event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "_links": {"self": {"href": f"{base_url}/api/v4/events/{event['id']}"}}}


def event_types(request: Request) -> Response:
    items = [{"key": t, "type": n + 1, "lang": t.replace("_", " ")} for n, t in enumerate(TYPES)]
    links = {"self": {"href": request.base_url + request.path}}
    return Response.json(200, {"_total_items": len(items), "_links": links, "_embedded": {"events_types": items}},
                         content_type="application/hal+json")


def list_events(log: EventLog, request: Request, page_max: int, over_max: str, next_link: str,
                newest_first: bool) -> Response:
    filters = request.query.get("filter")
    try:
        rows = log.select(filters if isinstance(filters, dict) else {}, newest_first)
        return hal_page(request, rows, "events", page_max, over_max, next_link,
                        lambda e: render_event(request.base_url, e))
    except BadQuery as exc:
        return exc.response


def change_events(entity: str, before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, list, list]]:
    """(type, value_after, value_before) of what an update changed, in AmoCRM's event vocabulary."""
    out: list[tuple[str, list, list]] = []

    def changed(key: str) -> bool:
        return before.get(key) != after.get(key)

    if entity == "tasks":
        if not before["is_completed"] and after["is_completed"]:
            out.append(("task_completed", [{"task_completed": True}], [{"task_completed": False}]))
        if changed("text"):
            out.append(("task_text_changed", [{"text": after["text"]}], [{"text": before["text"]}]))
        if changed("complete_till"):
            out.append(("task_deadline_changed", [{"task_deadline": {"timestamp": after["complete_till"]}}],
                        [{"task_deadline": {"timestamp": before["complete_till"]}}]))
        if changed("task_type_id"):
            out.append(("task_type_changed", [{"task_type": {"id": after["task_type_id"]}}],
                        [{"task_type": {"id": before["task_type_id"]}}]))
        if changed("result") and after["result"]:
            out.append(("task_result_added", [{"text": after["result"]["text"]}], []))
    else:
        if changed("name"):
            out.append(("name_field_changed", [{"name_field_value": {"name": after["name"]}}],
                        [{"name_field_value": {"name": before["name"]}}]))
        if entity == "leads" and (changed("status_id") or changed("pipeline_id")):
            out.append(("lead_status_changed",
                        [{"lead_status": {"id": after["status_id"], "pipeline_id": after["pipeline_id"]}}],
                        [{"lead_status": {"id": before["status_id"], "pipeline_id": before["pipeline_id"]}}]))
        if entity == "leads" and changed("price"):
            out.append(("sale_field_changed", [{"sale_field_value": {"sale": after["price"]}}],
                        [{"sale_field_value": {"sale": before["price"]}}]))
        old = {e["field_id"]: e for e in before.get("custom_fields_values") or []}
        new = {e["field_id"]: e for e in after.get("custom_fields_values") or []}
        for fid in sorted(set(old) | set(new)):
            if old.get(fid) != new.get(fid):
                out.append(("custom_field_value_changed", _cf_values(new.get(fid)), _cf_values(old.get(fid))))
    if changed("responsible_user_id"):
        out.append(("entity_responsible_changed", [{"responsible_user": {"id": after["responsible_user_id"]}}],
                    [{"responsible_user": {"id": before["responsible_user_id"]}}]))
    return out


def _cf_values(entry: dict[str, Any] | None) -> list[dict[str, Any]]:
    if entry is None:
        return []
    return [{"custom_field_value": {"field_id": entry["field_id"], "field_type": entry["field_type"],
                                    "enum_id": v.get("enum_id"), "text": str(v.get("value"))}}
            for v in entry["values"]]
