"""Values that point elsewhere: owners (users), pipelines and stages, and links to other records.

Users and stages resolve through the account's metadata (:class:`FieldCatalog`); links to other
records go through the engine's :class:`Resolver`, so canonical data holds canonical ids only.
"""

from __future__ import annotations

from typing import Any

from ..context import Context
from ..paths import MISSING, get_path
from ..registry import Transform

KIND = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "canonical kind: contact, deal, company"}
ID_TYPE = {"enum": ["integer", "string"], "default": "string",
           "description": "how push writes CRM ids (integer for a CRM that refuses \"12\")"}
KIND_TABLE = {"type": "object", "minProperties": 1, "additionalProperties": KIND}
NO_ID = (None, "", 0, "0", False)


def _crm_id(spec: dict[str, Any], value: Any) -> Any:
    return int(value) if spec.get("id") == "integer" else str(value)


def _to_canonical(ctx: Context, kind: str, crm_id: Any, missing: str = "reject") -> str | None:
    found = ctx.need_resolver().to_canonical(kind, str(crm_id))
    if found is None and missing == "reject":
        raise ctx.reject(f"{kind} {crm_id} is not known to the engine")
    return found


def _to_crm(ctx: Context, spec: dict[str, Any], kind: str, canonical_id: Any) -> Any:
    found = ctx.need_resolver().to_crm(kind, str(canonical_id))
    if found is None:
        raise ctx.reject(f"{kind} {canonical_id} has no record in this CRM yet")
    return _crm_id(spec, found)


class UserRef(Transform):
    summary = "a CRM user id ⇄ that user's e-mail (the same person in every CRM), from the account's users"
    catalog = ("users",)

    def forward(self, value: Any, ctx: Context) -> Any:
        if value in NO_ID:
            return None
        user = ctx.catalog.user(value)
        if user is None:
            raise ctx.reject(f"user {value} is not among the CRM's users")
        if not user.email:
            raise ctx.reject(f"user {value} ({user.name}) has no e-mail to identify them by")
        return user.email.lower()

    def inverse(self, value: Any, ctx: Context) -> Any:
        user = ctx.catalog.user_by_email(str(value))
        if user is None:
            raise ctx.reject(f"{value!r} is not the e-mail of a user of this CRM")
        return user.id


class PipelineRef(Transform):
    summary = "a pipeline (funnel) id ⇄ its name"
    catalog = ("stages",)

    def forward(self, value: Any, ctx: Context) -> Any:
        name = ctx.catalog.pipeline_name(value)
        if name is None:
            raise ctx.reject(f"pipeline {value!r} is not among the CRM's pipelines")
        return name

    def inverse(self, value: Any, ctx: Context) -> Any:
        found = ctx.catalog.pipeline_id(value)
        if found is None:
            known = ", ".join(ctx.catalog.pipeline_names())
            raise ctx.reject(f"{value!r} is not a pipeline of this CRM (known: {known})")
        return found


class _StageBase(Transform):
    params = {"pipeline": {"type": "string", "description": "CRM field holding the pipeline id (stage ids may repeat "
                                                            "across pipelines, e.g. won/lost)"}}
    required = ("pipeline",)
    catalog = ("stages",)

    def _stage(self, value: Any, ctx: Context) -> Any:
        pipeline = get_path(ctx.record, self.spec["pipeline"])
        stage = ctx.catalog.stage(None if pipeline is MISSING else pipeline, value)
        if stage is None:
            raise ctx.reject(f"stage {value!r} of pipeline {pipeline!r} is not among the CRM's stages")
        return stage


class StageRef(_StageBase):
    summary = "a stage id ⇄ the stage's name; push picks the stage by name within the canonical `pipeline`"

    def forward(self, value: Any, ctx: Context) -> Any:
        return self._stage(value, ctx).name

    def inverse(self, value: Any, ctx: Context) -> Any:
        pipeline = ctx.record.get("pipeline")
        stage = ctx.catalog.stage_named(pipeline, value)
        if stage is None:
            names = [s.name for s in ctx.catalog.stages if s.pipeline == pipeline]
            raise ctx.reject(f"{value!r} is not a stage of pipeline {pipeline!r} (known: {', '.join(names)})")
        return stage.id


class StageStatus(_StageBase):
    summary = "open/won/lost from the stage's kind (pull only: push moves the deal by its stage)"
    has_inverse = False

    def forward(self, value: Any, ctx: Context) -> Any:
        return self._stage(value, ctx).status


class Link(Transform):
    summary = "the CRM id of one linked record ⇄ its canonical id (through the engine's resolver)"
    params = {"kind": KIND, "id": ID_TYPE,
              "missing": {"enum": ["reject", "null"], "default": "reject",
                          "description": "an id the resolver does not know: set the record aside, or map to null"}}
    required = ("kind",)

    def forward(self, value: Any, ctx: Context) -> Any:
        if value in NO_ID:
            return None
        return _to_canonical(ctx, self.spec["kind"], value, self.spec.get("missing", "reject"))

    def inverse(self, value: Any, ctx: Context) -> Any:
        return _to_crm(ctx, self.spec, self.spec["kind"], value)


class Company(Transform):
    summary = "a CRM company id ⇄ the company's name (from the account's company list in the metadata)"
    params = {"id": {"enum": ["integer", "string"],
                     "description": "how push writes the company's id; default: as the CRM's company list types it"}}
    catalog = ("companies",)

    def forward(self, value: Any, ctx: Context) -> Any:
        if value in NO_ID:
            return None
        name = ctx.catalog.company_name(value)
        if name is None:
            raise ctx.reject(f"company {value!r} is not in the CRM's company list")
        return name

    def inverse(self, value: Any, ctx: Context) -> Any:
        if value in (None, ""):
            return None
        found = ctx.catalog.company_id(value)
        if found is None:
            raise ctx.reject(f"no company named {value!r} in the CRM: create it there first")
        wanted = self.spec.get("id")
        if wanted == "integer" and str(found).isdigit():
            return int(found)
        return str(found) if wanted == "string" else found


class Links(Transform):
    summary = "a list of linked CRM ids (or items with `key`) ⇄ canonical ids, in order"
    params = {"kind": KIND, "id": ID_TYPE, "key": {"type": "string", "description": "items are objects: take this key"}}
    required = ("kind",)
    handles_none = True

    def forward(self, value: Any, ctx: Context) -> Any:
        if value is not None and not isinstance(value, list):
            raise ctx.reject(f"expected a list of linked records, got {value!r}")
        key = self.spec.get("key")
        ids = [item.get(key) if key else item for item in value or ()]
        return [_to_canonical(ctx, self.spec["kind"], i) for i in ids if i not in NO_ID]

    def inverse(self, value: Any, ctx: Context) -> Any:
        key = self.spec.get("key")
        ids = [_to_crm(ctx, self.spec, self.spec["kind"], v) for v in value or ()]
        return [{key: i} for i in ids] if key else ids


class Reference(Transform):
    summary = ("a link to a record of one of several kinds, in the CRM's shape (`shape`), ⇄ {kind, id}; "
               "types not in `kinds` map to null")
    params = {"kinds": {**KIND_TABLE, "description": "CRM type code → canonical kind, e.g. leads: deal, D: deal"},
              "shape": {"enum": ["pair", "text", "object", "lists"],
                        "description": "pair: [type, id] (default); text: \"<type><separator><id>\" (\"D_10\"); "
                                       "object: {<type_key>: type, <id_key>: id}; lists: one list of ids per kind, "
                                       "`from` naming them in the order of `kinds` (contact_ids, "
                                       "deal_ids): pull takes the first id found, push writes that kind's list "
                                       "as [id] and the others empty"},
              "separator": {"type": "string", "minLength": 1, "description": "text shape: between type and id "
                                                                             "(default _)"},
              "type_key": {"type": "string", "description": "object shape: the key of the type (default type)"},
              "id_key": {"type": "string", "description": "object shape: the key of the id (default id)"},
              "many": {"type": "boolean", "description": "the CRM holds a list of links: pull takes the first of a "
                                                         "known kind, push writes a list of one"},
              "id": ID_TYPE}
    required = ("kinds",)
    handles_none = True
    defaults: dict[str, Any] = {}

    def __init__(self, spec: Any) -> None:
        super().__init__({**self.defaults, **spec})

    def _split(self, item: Any) -> tuple[Any, Any]:
        shape = self.spec.get("shape", "pair")
        if shape == "text":
            code, _, crm_id = str(item).partition(self.spec.get("separator", "_"))
            return code, crm_id
        if shape == "object":
            if not isinstance(item, dict):
                return None, None
            return item.get(self.spec.get("type_key", "type")), item.get(self.spec.get("id_key", "id"))
        return tuple(item) if isinstance(item, list) and len(item) == 2 else (None, None)

    def _join(self, code: Any, crm_id: Any) -> Any:
        shape = self.spec.get("shape", "pair")
        if shape == "text":
            return f"{code}{self.spec.get('separator', '_')}{crm_id}"
        if shape == "object":
            return {self.spec.get("type_key", "type"): code, self.spec.get("id_key", "id"): crm_id}
        return [code, crm_id]

    def forward(self, value: Any, ctx: Context) -> Any:
        if self.spec.get("shape") == "lists":
            return self._forward_lists(value, ctx)
        for item in (value or ()) if self.spec.get("many") else [value]:
            code, crm_id = self._split(item)
            if code is None or crm_id in NO_ID:
                continue
            kind = self.spec["kinds"].get(code)
            if kind is None:
                if not self.spec.get("many"):
                    ctx.note(f"linked {code} {crm_id} has no canonical kind; left unlinked")
                continue
            return {"kind": kind, "id": _to_canonical(ctx, kind, crm_id)}
        return None

    def _forward_lists(self, value: Any, ctx: Context) -> Any:
        for kind, ids in zip(self.spec["kinds"].values(), value or (), strict=False):
            if ids is not None and not isinstance(ids, list):
                raise ctx.reject(f"expected a list of linked {kind} ids, got {ids!r}")
            found = next((i for i in ids or () if i not in NO_ID), None)
            if found is not None:
                return {"kind": kind, "id": _to_canonical(ctx, kind, found)}
        return None

    def _inverse_lists(self, value: Any, ctx: Context) -> Any:
        kinds = list(self.spec["kinds"].values())
        out: list[list[Any]] = [[] for _ in kinds]
        if value:
            if value["kind"] not in kinds:
                raise ctx.reject(f"kind {value['kind']!r} cannot be linked here")
            out[kinds.index(value["kind"])] = [_to_crm(ctx, self.spec, value["kind"], value["id"])]
        return out

    def inverse(self, value: Any, ctx: Context) -> Any:
        if self.spec.get("shape") == "lists":
            return self._inverse_lists(value, ctx)
        if not value:
            if self.spec.get("many"):
                return []
            return [None, None] if self.spec.get("shape", "pair") == "pair" else None
        code = next((t for t, k in self.spec["kinds"].items() if k == value["kind"]), None)
        if code is None:
            raise ctx.reject(f"kind {value['kind']!r} cannot be linked here")
        link = self._join(code, _to_crm(ctx, self.spec, value["kind"], value["id"]))
        return [link] if self.spec.get("many") else link


class EntityRef(Reference):
    summary = "reference with shape pair: [entity type, id] ⇄ {kind, id}; types not in `kinds` map to null"
    params = {"kinds": Reference.params["kinds"], "id": ID_TYPE}


class CrmBinding(Reference):
    summary = "reference with shape text, many: [\"D_10\", \"C_7\"] ⇄ {kind, id} of the first known prefix"
    params = {"prefixes": {**KIND_TABLE, "description": "binding prefix → canonical kind, e.g. D: deal, C: contact"}}
    required = ("prefixes",)

    def __init__(self, spec: Any) -> None:
        spec = dict(spec)
        super().__init__({"kinds": spec.pop("prefixes", {}), "shape": "text", "many": True, **spec})
