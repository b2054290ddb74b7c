"""Bulk create and update of contacts, leads and tasks, validated the way AmoCRM validates them.

Every item is checked before anything is written; errors carry AmoCRM's codes and dotted paths and
the item's ``request_id``. By default a batch with any bad item is rejected whole (the connector then
re-sends the good ones); ``partial_writes`` writes the good items and lists errors for the rest.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..server import Request, Response
from .errors import NOT_BLANK, NOT_FOUND, NOT_SUPPORTED_CHOICE, ItemErrors, bad_request, problem, validation_failed
from .listing import HAL, MAX_LIMIT
from .render import link
from .seed import LOST, TASK_TYPES, WON

if TYPE_CHECKING:
    from .app import FakeAmoCRM

INT, STR, BOOL, DICT, LIST = "int", "string", "bool", "array", "list"
STANDARD: dict[str, dict[str, tuple[str, bool]]] = {  # field -> (type, nullable)
    "contacts": {"name": (STR, False), "first_name": (STR, False), "last_name": (STR, False)},
    "companies": {"name": (STR, False)},
    "leads": {"name": (STR, False), "price": (INT, True), "status_id": (INT, False), "pipeline_id": (INT, False),
              "loss_reason_id": (INT, True), "closed_at": (INT, True)},
    "tasks": {"text": (STR, False), "complete_till": (INT, False), "task_type_id": (INT, False),
              "entity_id": (INT, True), "entity_type": (STR, True), "is_completed": (BOOL, False),
              "result": (DICT, True), "duration": (INT, False)},
}
COMMON = {"responsible_user_id": (INT, False), "created_by": (INT, False), "updated_by": (INT, False),
          "created_at": (INT, False), "updated_at": (INT, False), "request_id": (STR, False),
          "custom_fields_values": (LIST, True), "_embedded": (DICT, False)}
TASK_ENTITY_TYPES = ("leads", "contacts", "companies", "customers")


def _is(value: Any, kind: str) -> bool:
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == STR:
        return isinstance(value, str)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == LIST:
        return isinstance(value, list)
    return isinstance(value, (dict, list))  # a PHP array: object or list


@dataclass
class Prepared:
    request_id: str
    row: dict[str, Any]
    before: dict[str, Any] | None  # the stored row an update replaces, None for a create
    supplied: frozenset[str]  # keys the item carried: explicit created_at/updated_at are honoured (imports)


class Writer:
    def __init__(self, app: FakeAmoCRM) -> None:
        self.app = app
        self.account = app.account

    # -- entry points -----------------------------------------------------------------------------
    def bulk(self, request: Request, entity: str, update: bool) -> Response:
        body = request.json()
        if body is None or body == [] or body == {}:
            return bad_request("Request data can not be empty")
        if not isinstance(body, list):
            errors = ItemErrors("0")
            errors.type_error("", "array")
            return validation_failed([errors])
        if len(body) > MAX_LIMIT:
            return problem(422, f"Limit {MAX_LIMIT} per page")
        prepared, failed = self._prepare_all(entity, body, update)
        if failed and (not self.app.config.partial_writes or not prepared):
            return validation_failed(failed)
        items = [self._commit(entity, p, request.base_url) for p in prepared]
        payload: dict[str, Any] = {"_links": {"self": {"href": f"{request.base_url}/api/v4/{entity}"}},
                                   "_embedded": {entity: items}}
        if failed:  # partial_writes: the good items were written, the others are reported
            payload["validation-errors"] = [f.as_dict() for f in failed]
        return Response.json(200, payload, content_type=HAL)

    def one(self, request: Request, entity: str, rid: int) -> Response:
        body = request.json()
        if not body:
            return bad_request("Request data can not be empty")
        if not isinstance(body, dict):
            errors = ItemErrors("0")
            errors.type_error("", "object")
            return validation_failed([errors])
        prepared, failed = self._prepare_all(entity, [{**body, "id": rid}], update=True)
        if failed:
            return validation_failed(failed)
        item = self._commit(entity, prepared[0], request.base_url)
        item.pop("request_id", None)
        return Response.json(200, item, content_type=HAL)

    # -- validation -------------------------------------------------------------------------------
    def _prepare_all(self, entity: str, items: list[Any], update: bool) -> tuple[list[Prepared], list[ItemErrors]]:
        prepared, failed = [], []
        for n, item in enumerate(items):
            rid = item.get("request_id") if isinstance(item, dict) else None
            errors = ItemErrors(rid if isinstance(rid, str) else str(n))
            if not isinstance(item, dict):
                errors.type_error("", "array")
                failed.append(errors)
                continue
            p = self._prepare(entity, item, update, errors)
            if errors.errors or p is None:
                failed.append(errors)
            else:
                prepared.append(p)
        return prepared, failed

    def _prepare(self, entity: str, item: dict[str, Any], update: bool, errors: ItemErrors) -> Prepared | None:
        table = self.app.tables[entity]
        before = None
        if update:
            rid = item.get("id")
            if not _is(rid, INT):
                errors.type_error("id", "int") if rid is not None else errors.add(NOT_BLANK, "id")
                return None
            if rid not in table.rows:
                errors.add(NOT_FOUND, "id", f"Entity {rid} not found.")
                return None
            before = table.rows[rid]
        spec = {**COMMON, **STANDARD[entity]}
        for name, value in item.items():
            if name in spec:
                kind, nullable = spec[name]
                if not (value is None and nullable) and not _is(value, kind):
                    errors.type_error(name, kind)
        if errors.errors:
            return None
        row = copy.deepcopy(before) if before else self._blank(entity)
        for name, value in item.items():
            if name in STANDARD[entity] or name in ("responsible_user_id", "created_by", "updated_by",
                                                    "created_at", "updated_at"):
                row[name] = value
        if "responsible_user_id" in item and item["responsible_user_id"] not in self.account.user_ids():
            errors.add(NOT_SUPPORTED_CHOICE, "responsible_user_id")
        if "custom_fields_values" in item and entity in self.account.fields:
            row["custom_fields_values"] = self.account.fields[entity].apply(
                row.get("custom_fields_values"), item["custom_fields_values"], errors)
        getattr(self, f"_check_{entity}")(item, row, before, errors)
        rid_text = item.get("request_id")
        return Prepared(rid_text if isinstance(rid_text, str) else errors.request_id, row, before, frozenset(item))

    def _blank(self, entity: str) -> dict[str, Any]:
        now, user, acc = int(self.app.clock.now()), self.account.current_user_id, self.account.id
        who = {"responsible_user_id": user, "group_id": 0, "created_by": user, "updated_by": user,
               "created_at": now, "updated_at": now}
        if entity == "contacts":
            return {"id": 0, "name": "", "first_name": "", "last_name": "", **who, "closest_task_at": None,
                    "is_deleted": False, "is_unsorted": False, "custom_fields_values": None, "account_id": acc,
                    "_embedded": {"tags": [], "companies": []}}
        if entity == "companies":
            return {"id": 0, "name": "", **who, "closest_task_at": None, "custom_fields_values": None,
                    "is_deleted": False, "account_id": acc, "_embedded": {"tags": []}}
        if entity == "leads":
            status = self.account.main_pipeline.first_open
            return {"id": 0, "name": "", "price": 0, "responsible_user_id": user, "group_id": 0,
                    "status_id": status.id, "pipeline_id": status.pipeline_id, "loss_reason_id": None,
                    "created_by": user, "updated_by": user, "created_at": now, "updated_at": now, "closed_at": None,
                    "closest_task_at": None, "is_deleted": False, "custom_fields_values": None, "score": None,
                    "account_id": acc, "labor_cost": None, "_embedded": {"tags": [], "companies": [], "contacts": []}}
        return {"id": 0, **{k: who[k] for k in ("created_by", "updated_by", "created_at", "updated_at")},
                "responsible_user_id": user, "group_id": 0, "entity_id": None, "entity_type": None, "duration": 0,
                "is_completed": False, "task_type_id": 1, "text": "", "result": [], "complete_till": None,
                "account_id": acc}

    def _refs(self, item: dict[str, Any], key: str, target: str, errors: ItemErrors) -> list[dict[str, Any]] | None:
        embedded = item.get("_embedded") or {}
        if not isinstance(embedded, dict) or key not in embedded:
            return None
        refs = embedded[key]
        if not isinstance(refs, list):
            errors.type_error(f"_embedded.{key}", "array")
            return None
        out = []
        for n, r in enumerate(refs):
            rid = r.get("id") if isinstance(r, dict) else None
            if not _is(rid, INT):
                errors.type_error(f"_embedded.{key}.{n}.id", "int")
            elif rid not in self.app.tables[target].rows:
                errors.add(NOT_FOUND, f"_embedded.{key}.{n}.id", f"Entity {rid} not found.")
            else:
                out.append(r)
        return out

    def _tags(self, item: dict[str, Any], row: dict[str, Any], errors: ItemErrors) -> None:
        embedded = item.get("_embedded") or {}
        if not isinstance(embedded, dict) or "tags" not in embedded:
            return
        tags = embedded["tags"]
        if tags is None:
            row["_embedded"]["tags"] = []
            return
        if not isinstance(tags, list):
            errors.type_error("_embedded.tags", "array")
            return
        by_id = {v: k for k, v in self.account.tags.items()}
        out = []
        for n, t in enumerate(tags):
            if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"].strip():
                out.append(self.account.tag(t["name"].strip()))
            elif isinstance(t, dict) and t.get("id") in by_id:
                out.append(self.account.tag(by_id[t["id"]]))
            else:
                errors.add(NOT_SUPPORTED_CHOICE, f"_embedded.tags.{n}", "A tag needs a name or a known id.")
        row["_embedded"]["tags"] = out

    def _check_contacts(self, item: dict[str, Any], row: dict[str, Any], before: dict | None,
                        errors: ItemErrors) -> None:
        if "name" not in item and ("first_name" in item or "last_name" in item):
            row["name"] = f"{row['first_name']} {row['last_name']}".strip()
        companies = self._refs(item, "companies", "companies", errors)
        if companies is not None:
            row["_embedded"]["companies"] = [c["id"] for c in companies]
        self._tags(item, row, errors)

    def _check_companies(self, item: dict[str, Any], row: dict[str, Any], before: dict | None,
                         errors: ItemErrors) -> None:
        self._tags(item, row, errors)

    def _check_leads(self, item: dict[str, Any], row: dict[str, Any], before: dict | None,
                     errors: ItemErrors) -> None:
        pipeline = self.account.pipeline(row["pipeline_id"])
        if pipeline is None:
            errors.add(NOT_SUPPORTED_CHOICE, "pipeline_id")
            return
        if "pipeline_id" in item and "status_id" not in item and (before is None
                                                                   or before["pipeline_id"] != pipeline.id):
            row["status_id"] = pipeline.first_open.id
        if pipeline.status(row["status_id"]) is None:
            errors.add(NOT_SUPPORTED_CHOICE, "status_id",
                       f"Status {row['status_id']} is not a stage of pipeline {pipeline.id}.")
        closed = row["status_id"] in (WON, LOST)
        if closed and (before is None or before["status_id"] not in (WON, LOST)) and "closed_at" not in item:
            row["closed_at"] = int(self.app.clock.now())
        if not closed:
            row["closed_at"] = None
        contacts = self._refs(item, "contacts", "contacts", errors)
        if contacts is not None:
            # On update the given contacts are linked in addition to the current ones (a link, not a replace).
            current = [] if before is None else [dict(c) for c in row["_embedded"]["contacts"]]
            for c in contacts:
                existing = next((x for x in current if x["id"] == c["id"]), None)
                if existing is None:
                    current.append({"id": c["id"], "is_main": bool(c.get("is_main"))})
                elif "is_main" in c:
                    existing["is_main"] = bool(c["is_main"])
            if current and not any(x["is_main"] for x in current):
                current[0]["is_main"] = True
            if sum(x["is_main"] for x in current) > 1:  # the last one marked main wins
                main = [x for x in current if x["is_main"]][-1]
                for x in current:
                    x["is_main"] = x is main
            row["_embedded"]["contacts"] = current
        companies = self._refs(item, "companies", "companies", errors)
        if companies is not None:
            row["_embedded"]["companies"] = [c["id"] for c in companies][:1]
        self._tags(item, row, errors)

    def _check_tasks(self, item: dict[str, Any], row: dict[str, Any], before: dict | None,
                     errors: ItemErrors) -> None:
        if before is None:
            if not item.get("text"):
                errors.add(NOT_BLANK, "text")
            if item.get("complete_till") is None:
                errors.add(NOT_BLANK, "complete_till")
        if row["task_type_id"] not in {t["id"] for t in TASK_TYPES}:
            errors.add(NOT_SUPPORTED_CHOICE, "task_type_id")
        if row["entity_type"] is not None and row["entity_type"] not in TASK_ENTITY_TYPES:
            errors.add(NOT_SUPPORTED_CHOICE, "entity_type")
        elif row["entity_id"] is not None:
            if row["entity_type"] is None:
                errors.add(NOT_BLANK, "entity_type")
            elif row["entity_type"] in self.app.tables and row["entity_id"] not in \
                    self.app.tables[row["entity_type"]].rows:
                errors.add(NOT_FOUND, "entity_id", f"Entity {row['entity_id']} not found.")
        if "result" in item:
            result = item["result"]
            if result is None or result == []:
                row["result"] = []
            elif not isinstance(result, dict) or not isinstance(result.get("text"), str):
                errors.type_error("result.text", STR)
            else:
                row["result"] = {"text": result["text"]}

    # -- applying -----------------------------------------------------------------------------------
    def _commit(self, entity: str, p: Prepared, base_url: str) -> dict[str, Any]:
        table = self.app.tables[entity]
        now = int(self.app.clock.now())
        row, before = p.row, p.before
        if before is None:
            row["id"] = table.new_id()
            if entity == "leads" and not row["name"]:
                row["name"] = f"Сделка #{row['id']}"
        else:
            if "updated_at" not in p.supplied:
                row["updated_at"] = now
            if "updated_by" not in p.supplied:
                row["updated_by"] = self.account.current_user_id
        table.rows[row["id"]] = row
        self.app.record_changes(entity, before, row)
        href = link(base_url, entity, row["id"])
        if before is None:
            item: dict[str, Any] = {"id": row["id"], "is_deleted": False}
            if entity == "contacts":
                item["is_unsorted"] = False
            return {**item, "request_id": p.request_id, "_links": href}
        return {"id": row["id"], "updated_at": row["updated_at"], "request_id": p.request_id, "_links": href}
