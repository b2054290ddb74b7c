"""``crm.item.*`` for leads (1), deals (2), contacts (3) and companies (4): the universal CRM API.

The same stored records as the legacy methods, seen through camelCase names with real types: ids and
user ids are ints, money is a float, multi-fields come as one ``fm`` list (only with ``select: ['*']``).
Filters are strict here: a field the entity does not have is a 400 ``INVALID_ARG_VALUE``.
"""

from __future__ import annotations

import copy
from typing import Any

from crmsync.phpquery import as_list

from . import filters, multifields
from .entities import MULTI_FIELDS, EntitySpec, FieldSpec, field_meta
from .errors import ApiError, item_not_found
from .methods_crm import read
from .registry import Call, Result, method
from .seed import blank, finish
from .writes import apply, check_fields

STAMPS = {"DATE_MODIFY", "MODIFY_BY_ID"}


def entity(call: Call) -> EntitySpec:
    raw = call.params.get("entityTypeId")
    for spec in call.app.portal.specs.values():
        if str(raw).strip() == str(spec.entity_type_id):
            return spec
    raise ApiError(400, "NOT_FOUND", "Smart process not found")


def _original(call: Call) -> bool:
    return str(call.params.get("useOriginalUfNames", "N")).upper() in ("Y", "1", "TRUE")


def out_name(f: FieldSpec, original: bool) -> str:
    return f.name if original and f.name.startswith("UF_") else f.item_name


def convert(f: FieldSpec, value: Any) -> Any:
    if isinstance(value, list):
        return [convert(f, v) for v in value]
    if value is None:
        return None
    if f.kind == "int" or (f.type == "enumeration"):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None
    if f.kind == "float":
        return float(value)
    return value


def to_item(spec: EntitySpec, record: dict[str, Any], select: Any = None, original: bool = False) -> dict[str, Any]:
    wanted = [str(s).strip() for s in as_list(select) if str(s).strip()] or ["*"]
    every = "*" in wanted
    ufs = every or "ufCrm*" in wanted or "UF_*" in wanted
    names = set(wanted)
    out: dict[str, Any] = {}
    for f in spec.all_fields:
        if f.kind == "multi":
            continue
        name = out_name(f, original)
        is_uf = f.name.startswith("UF_")
        if f.name == "ID" or (every and not is_uf) or (is_uf and ufs) or name in names or f.item_name in names:
            out[name] = convert(f, record.get(f.name))
    if every or "xmlId" in names:
        out["xmlId"] = record.get("ORIGIN_ID") or ""  # UNCONFIRMED for deals/contacts: present on smart processes
    if every or "entityTypeId" in names:
        out["entityTypeId"] = spec.entity_type_id
    if (every or "fm" in names) and any(k in spec.by_name for k in MULTI_FIELDS):
        out["fm"] = multifields.to_fm(record)
    return out


def item_resolver(spec: EntitySpec, original: bool) -> filters.Resolver:
    def resolve(name: str) -> tuple[str, str] | None:
        f = spec.by_item.get(name) or (spec.by_name.get(name) if original and name.startswith("UF_") else None)
        return (f.name, f.kind) if f is not None and f.kind != "multi" else None
    return resolve


def legacy_fields(spec: EntitySpec, fields: dict[str, Any]) -> dict[str, Any]:
    """camelCase ``fields`` → legacy names; unknown keys dropped (as the real API ignores them)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        f = spec.by_item.get(key) or (spec.by_name.get(key) if key.startswith("UF_") else None)
        if f is not None and f.kind != "multi":
            out[f.name] = value
    return out


def _find(call: Call, spec: EntitySpec) -> tuple[int, dict[str, Any]]:
    try:
        rid = int(float(str(call.params.get("id"))))
    except (TypeError, ValueError):
        raise item_not_found() from None
    row = call.app.tables[spec.table].rows.get(rid)
    if row is None:
        raise item_not_found()
    return rid, row


@method("crm.item.list")
def item_list(call: Call) -> Result:
    spec = entity(call)
    app = call.app
    tz = app.config.timezone
    resolve = item_resolver(spec, _original(call))
    conds = filters.compile_filter(call.params.object("filter"), resolve, tz, strict=True)
    rows = [r for r in app.tables[spec.table].rows.values() if filters.matches(r, conds, read, tz)]
    rows = filters.order_rows(rows, filters.parse_order(call.params.object("order"), resolve), read, tz, "ID")
    chunk, total, nxt = filters.page(rows, call.params.get("start"), app.config.page_size)
    select = call.params.get("select")
    return Result({"items": [to_item(spec, r, select, _original(call)) for r in chunk]}, total, nxt)


@method("crm.item.get")
def item_get(call: Call) -> Result:
    spec = entity(call)
    return Result({"item": to_item(spec, _find(call, spec)[1], None, _original(call))})


def _write(call: Call, spec: EntitySpec, row: dict[str, Any], creating: bool) -> dict[str, Any]:
    fields = check_fields(call.params.get("fields"))
    draft = copy.deepcopy(row)
    apply(call.app, spec, draft, legacy_fields(spec, fields), creating=creating, user_id=call.user_id,
          item_api=True)
    if "fm" in fields:
        kinds = tuple(k for k in MULTI_FIELDS if k in spec.by_name)
        multifields.apply_fm(draft, fields["fm"], call.app.portal.new_multi_id, kinds)
        finish(draft)
    return draft


@method("crm.item.add")
def item_add(call: Call) -> Result:
    spec = entity(call)
    table = call.app.tables[spec.table]
    row = _write(call, spec, blank(spec), creating=True)
    rid = table.new_id()
    row["ID"] = str(rid)
    if spec.name == "deal" and not row.get("TITLE"):
        row["TITLE"] = f"Deal #{rid}"
    table.rows[rid] = row
    return Result({"item": to_item(spec, row, None, _original(call))})


@method("crm.item.update")
def item_update(call: Call) -> Result:
    spec = entity(call)
    rid, row = _find(call, spec)
    draft = _write(call, spec, row, creating=False)
    changed = any(draft.get(k) != row.get(k) for k in set(draft) | set(row) if k not in STAMPS)
    if changed:  # the real API skips saving (and keeps updatedTime) when nothing changed
        row.clear()
        row.update(draft)
    return Result({"item": to_item(spec, row, None, _original(call))})


@method("crm.item.delete")
def item_delete(call: Call) -> Result:
    spec = entity(call)
    rid, _ = _find(call, spec)
    call.app.delete_record(spec.table, rid)
    return Result([])


@method("crm.item.fields")
def item_fields(call: Call) -> Result:
    spec = entity(call)
    original = _original(call)
    out = {}
    for f in spec.all_fields:
        if f.kind == "multi":
            continue
        out[out_name(f, original)] = {**field_meta(f, spec.uf(f.name)), "upperName": f.name}
    if any(k in spec.by_name for k in MULTI_FIELDS):
        out["fm"] = {"type": "crm_multifield", "isRequired": False, "isReadOnly": False, "isImmutable": False,
                     "isMultiple": True, "isDynamic": False, "title": "Multi-fields", "upperName": "FM"}
    return Result({"fields": out})
