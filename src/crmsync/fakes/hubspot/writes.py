"""Creates, updates and archives, one at a time or in batches of up to 100, validated as HubSpot does.

A batch create or update is all-or-nothing on invalid values (one 400 ``VALIDATION_ERROR`` naming
every bad property); ids that do not exist in a batch update are reported in a 207 multi-status
(``batch_update_missing="error"`` makes them a 400 instead). Contacts are unique by e-mail: a create
with an address the portal already has is a 409 ``CONFLICT`` naming the existing id, the way clients
find the record a lost create made. Archiving is a soft delete: the record leaves the lists and comes
back with ``archived=true``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .associations import TYPE_IDS, twin
from .errors import ApiError, not_found, property_errors, validation

if TYPE_CHECKING:
    from .app import FakeHubSpot

BATCH_MAX = 100


def inputs_of(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise validation("Invalid input JSON: the body needs an \"inputs\" list")
    items = body["inputs"]
    if len(items) > BATCH_MAX:
        raise validation(f"Too many inputs were provided. The limit is {BATCH_MAX}; received {len(items)}",
                         context={"limit": [str(BATCH_MAX)]})
    return items


class Writer:
    def __init__(self, app: FakeHubSpot) -> None:
        self.app = app

    # -- checks ---------------------------------------------------------------------------------
    def _properties(self, obj: str, raw: Any, row: dict[str, Any] | None
                    ) -> tuple[dict[str, str | None], list[dict[str, Any]]]:
        """The values to store and the problems with them; ``row`` is the record an update changes (None: create)."""
        creating = row is None
        if not isinstance(raw, dict):
            raise validation("\"properties\" must be an object of property names to values")
        out: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, val in raw.items():
            prop = self.app.portal.prop(obj, name)
            if prop is None:
                problems.append({"name": name, "error": "PROPERTY_DOESNT_EXIST",
                                 "message": f"Property \"{name}\" does not exist"})
                continue
            if prop.read_only:
                problems.append({"name": name, "error": "READ_ONLY_VALUE",
                                 "message": f"\"{name}\" is a read only property; its value cannot be set."})
                continue
            text, problem = prop.normalize(val)
            if problem:
                problems.append({"name": name, "error": problem[0], "message": problem[1]})
            else:
                out[name] = text
        if creating and obj == "tasks" and not out.get("hs_timestamp"):
            problems.append({"name": "hs_timestamp", "error": "REQUIRED_PROPERTY",
                             "message": "hs_timestamp is required to create a task"})
        if creating and obj == "deals" and not problems:
            pipeline = out.setdefault("pipeline", "default") or "default"
            first = next((p.stages[0].id for p in self.app.portal.pipelines if p.id == pipeline), None)
            if first is not None:
                out.setdefault("dealstage", first)
        if not problems:
            problems = self._stage_problems(obj, self._merged(row, out))
        return out, problems

    def _stage_problems(self, obj: str, merged: dict[str, Any]) -> list[dict[str, Any]]:
        """A deal's stage must belong to its pipeline (each pipeline has its own stages)."""
        stage, pipeline = merged.get("dealstage"), merged.get("pipeline")
        found = self.app.portal.stage(str(stage)) if obj == "deals" and stage else None
        if found is None or not pipeline or found[0].id == pipeline:
            return []
        return [{"name": "dealstage", "error": "INVALID_OPTION",
                 "message": f"{stage} is not a valid stage of pipeline {pipeline}"}]

    def _merged(self, row: dict[str, Any] | None, props: dict[str, str | None]) -> dict[str, Any]:
        merged = dict(row["props"]) if row is not None else {}
        merged.update(props)
        return merged

    def _check_email(self, obj: str, props: dict[str, str | None], own_id: int | None,
                     pending: set[str] | None = None) -> None:
        email = props.get("email")
        if obj != "contacts" or not email:
            return
        if pending is not None and email in pending:
            raise validation(f"Duplicate email {email} in the batch's inputs", subCategory="DUPLICATE_ID")
        existing = self.app.email_index().get(email)
        if existing is not None and existing != own_id:
            raise ApiError(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")

    def _associations(self, obj: str, raw: Any) -> list[tuple[str, int, int]]:
        out = []
        for item in raw or []:
            to_id = str((item.get("to") or {}).get("id", "")) if isinstance(item, dict) else ""
            types = item.get("types") if isinstance(item, dict) else None
            if not to_id.isdigit() or not isinstance(types, list) or not types:
                raise validation("each association needs to.id and a list of types")
            for t in types:
                type_id = int(t.get("associationTypeId", -1)) if isinstance(t, dict) else -1
                target = next((to for (frm, to), tid in TYPE_IDS.items() if frm == obj and tid == type_id), None)
                if target is None or twin(obj, target, type_id) is None:
                    raise validation(f"association type id {type_id} is not valid from {obj}",
                                     subCategory="INVALID_ASSOCIATION_TYPE")
                if int(to_id) not in self.app.tables[target].rows:
                    raise validation(f"No {target[:-1]} with id {to_id} to associate with",
                                     subCategory="ASSOCIATION_TARGET_NOT_FOUND")
                out.append((target, int(to_id), type_id))
        return out

    # -- applying -------------------------------------------------------------------------------
    def _create(self, obj: str, props: dict[str, str | None], assoc: list[tuple[str, int, int]]) -> dict[str, Any]:
        table, now = self.app.tables[obj], self.app.now_ms()
        rid = table.new_id()
        row = {"id": rid, "created": now, "updated": now, "archived": False, "archivedAt": None,
               "props": {k: v for k, v in props.items() if v is not None}}
        self.app.derive(obj, row)
        table.rows[rid] = row
        self.app.changed(obj, created=True)
        for target, to_id, type_id in assoc:
            self.app.links.add(obj, rid, target, to_id, type_id)
            self.app.bump(target, to_id)
        return row

    def _update(self, obj: str, row: dict[str, Any], props: dict[str, str | None]) -> dict[str, Any]:
        before = dict(row["props"])
        for name, val in props.items():
            if val is None:
                row["props"].pop(name, None)
            else:
                row["props"][name] = val
        self.app.derive(obj, row)
        if row["props"] != before:  # HubSpot moves the modified stamp only when a value changed
            row["updated"] = self.app.now_ms()
        self.app.changed(obj)
        return row

    def _row(self, obj: str, ident: str, id_property: str | None) -> dict[str, Any] | None:
        if id_property and id_property != "hs_object_id":
            if obj != "contacts" or id_property != "email":
                raise validation(f"idProperty {id_property!r} is not a unique property of {obj}")
            rid = self.app.email_index().get(ident.strip().lower())
            return self.app.tables[obj].rows.get(rid) if rid is not None else None
        return self.app.tables[obj].rows.get(int(ident)) if ident.isdigit() else None

    # -- endpoints ------------------------------------------------------------------------------
    def create(self, obj: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise validation("The request body must be a JSON object")
        props, problems = self._properties(obj, body.get("properties", {}), None)
        if problems:
            raise property_errors(problems, self.app.config.hub_id)
        self._check_email(obj, props, None)
        return self._create(obj, props, self._associations(obj, body.get("associations")))

    def update(self, obj: str, ident: str, body: Any, id_property: str | None) -> dict[str, Any]:
        row = self._row(obj, ident, id_property)
        if row is None:
            raise not_found(ident)
        props, problems = self._properties(obj, (body or {}).get("properties", {}) if isinstance(body, dict)
                                           else None, row)
        if problems:
            raise property_errors(problems, self.app.config.hub_id)
        self._check_email(obj, props, row["id"])
        return self._update(obj, row, props)

    def archive(self, obj: str, ident: str) -> None:
        row = self.app.tables[obj].rows.get(int(ident)) if ident.isdigit() else None
        if row is not None:
            self.app.archive(obj, row["id"])

    def batch_create(self, obj: str, body: Any) -> list[dict[str, Any]]:
        prepared: list[tuple[dict[str, str | None], list[tuple[str, int, int]]]] = []
        problems: list[dict[str, Any]] = []
        pending: set[str] = set()
        for item in inputs_of(body):
            if not isinstance(item, dict):
                raise validation("each input must be an object with \"properties\"")
            props, bad = self._properties(obj, item.get("properties", {}), None)
            problems += bad
            if not bad:
                self._check_email(obj, props, None, pending)
                if obj == "contacts" and props.get("email"):
                    pending.add(str(props["email"]))
                prepared.append((props, self._associations(obj, item.get("associations"))))
        if problems:
            raise property_errors(problems, self.app.config.hub_id)
        return [self._create(obj, props, assoc) for props, assoc in prepared]

    def batch_update(self, obj: str, body: Any) -> tuple[list[dict[str, Any]], list[str]]:
        id_property = body.get("idProperty") if isinstance(body, dict) else None
        prepared, problems, missing = [], [], []
        for item in inputs_of(body):
            ident = str(item.get("id", "")) if isinstance(item, dict) else ""
            row = self._row(obj, ident, id_property)
            if row is None:
                missing.append(ident)
                continue
            props, bad = self._properties(obj, item.get("properties", {}), row)
            problems += bad
            if not bad:
                self._check_email(obj, props, row["id"])
                prepared.append((row, props))
        if problems:
            raise property_errors(problems, self.app.config.hub_id)
        if missing and self.app.config.batch_update_missing == "error":
            raise not_found(missing[0])
        return [self._update(obj, row, props) for row, props in prepared], missing

    def batch_upsert(self, obj: str, body: Any) -> list[tuple[dict[str, Any], bool]]:
        """Create or update by a unique property (contacts: ``email``); (record, created) per input."""
        plan: list[tuple[dict[str, Any] | None, dict[str, str | None]]] = []
        problems: list[dict[str, Any]] = []
        for item in inputs_of(body):
            if not isinstance(item, dict) or not item.get("idProperty") or not item.get("id"):
                raise validation("each upsert input needs idProperty, id and properties")
            ident, id_property = str(item["id"]), str(item["idProperty"])
            row = self._row(obj, ident, id_property)
            props, bad = self._properties(obj, {id_property: ident, **(item.get("properties") or {})},
                                          row)
            problems += bad
            plan.append((row, props))
        if problems:
            raise property_errors(problems, self.app.config.hub_id)
        out = []
        for row, props in plan:
            if row is None:
                existing = self.app.email_index().get(str(props.get("email"))) if obj == "contacts" else None
                row = self.app.tables[obj].rows.get(existing) if existing is not None else None
            out.append((self._update(obj, row, props), False) if row is not None else
                       (self._create(obj, props, []), True))
        return out

    def batch_archive(self, obj: str, body: Any) -> None:
        for item in inputs_of(body):
            self.archive(obj, str(item.get("id", "")) if isinstance(item, dict) else "")

