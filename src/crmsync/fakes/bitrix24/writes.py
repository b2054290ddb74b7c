"""Applying a client's ``fields`` to a stored legacy record: coercion, validation and side effects.

Shared by the legacy ``crm.*.add/update`` methods and ``crm.item.*`` (which translates its camelCase
names first). Unknown keys are ignored without a word, as on the real portal; read-only fields are
skipped unless ``params.IMPORT=Y`` lets a migration set creation/modification stamps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmsync.phpquery import as_list

from . import dates, multifields
from .entities import MULTI_FIELDS, EntitySpec, FieldSpec
from .errors import ApiError, core, fields_not_array
from .seed import finish, semantic

if TYPE_CHECKING:
    from .app import FakeBitrix24

IMPORTABLE = {"DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID"}
TRUE = {"Y", "1", "TRUE", "ON"}


def check_fields(fields: Any) -> dict[str, Any]:
    if isinstance(fields, list):
        fields = {str(i): v for i, v in enumerate(fields)}
    if not isinstance(fields, dict):
        raise fields_not_array()
    return fields


def apply(app: FakeBitrix24, spec: EntitySpec, record: dict[str, Any], fields: Any, *, creating: bool,
          user_id: int, import_mode: bool = False, item_api: bool = False) -> None:
    """Write ``fields`` into ``record`` in place (validating everything before changing anything)."""
    fields = {str(k).upper() if not str(k).upper().startswith("UF_") else str(k): v
              for k, v in check_fields(fields).items()}
    staged = dict(record)
    for kind in MULTI_FIELDS:
        staged[kind] = [dict(e) for e in record.get(kind) or []]
    tz = app.config.timezone
    given_stamps = set()
    for name, value in fields.items():
        f = spec.by_name.get(name)
        if f is None:
            continue
        if f.read_only and not (import_mode and name in IMPORTABLE):
            continue
        if f.kind == "multi":
            new_id = app.portal.new_multi_id
            staged[name] = (multifields.add_legacy(name, value, new_id) if creating
                            else multifields.update_legacy(name, staged[name], value, new_id))
            continue
        if name in ("CONTACT_IDS", "COMPANY_IDS"):
            ids = [str(_int(v, f)) for v in as_list(value) if _int(v, f)]
            staged[name] = ids
            staged[name[:-1]] = ids[0] if ids else None
            continue
        if name in IMPORTABLE and value not in (None, ""):
            given_stamps.add(name)
        staged[name] = _coerce(spec, f, value, tz)
    if "CONTACT_ID" in fields and "CONTACT_IDS" not in fields and "CONTACT_IDS" in staged:
        first = staged.get("CONTACT_ID")
        rest = [c for c in staged.get("CONTACT_IDS") or [] if c != first]
        staged["CONTACT_IDS"] = ([first] if first else []) + rest
    if "COMPANY_ID" in fields and "COMPANY_IDS" not in fields and "COMPANY_IDS" in staged:
        first = staged.get("COMPANY_ID")
        staged["COMPANY_IDS"] = ([first] if first else []) + [c for c in staged["COMPANY_IDS"] if c != first]
    _funnel(app, spec, record, staged, fields, creating=creating, item_api=item_api, user_id=user_id)
    now = dates.iso(app.clock.now(), tz)
    if creating:
        staged["DATE_CREATE"] = staged["DATE_CREATE"] if "DATE_CREATE" in given_stamps else now
        staged["CREATED_BY_ID"] = staged["CREATED_BY_ID"] if "CREATED_BY_ID" in given_stamps else str(user_id)
        if not staged.get("ASSIGNED_BY_ID"):
            staged["ASSIGNED_BY_ID"] = str(user_id)
        for flag in ("OPENED", "EXPORT"):
            if flag in staged and staged[flag] is None:
                staged[flag] = "Y"
    staged["DATE_MODIFY"] = staged["DATE_MODIFY"] if "DATE_MODIFY" in given_stamps else now
    staged["MODIFY_BY_ID"] = staged["MODIFY_BY_ID"] if "MODIFY_BY_ID" in given_stamps else str(user_id)
    record.clear()
    record.update(finish(staged))


def _funnel(app: FakeBitrix24, spec: EntitySpec, before: dict[str, Any], staged: dict[str, Any],
            fields: dict[str, Any], *, creating: bool, item_api: bool, user_id: int) -> None:
    """Deal pipeline and stage, lead status: validated against the portal's funnels."""
    now = dates.iso(app.clock.now(), app.config.timezone)
    if spec.name == "deal":
        if not creating and not item_api:
            staged["CATEGORY_ID"] = before.get("CATEGORY_ID")  # crm.deal.update cannot move funnels
        cat_text = staged.get("CATEGORY_ID") or "0"
        known = {str(c["id"]) for c in app.portal.categories}
        if cat_text not in known:
            raise ApiError(400, "", f"Pipeline (CATEGORY_ID) {cat_text} not found. Known: {', '.join(sorted(known))}.")
        staged["CATEGORY_ID"] = cat_text
        stages = [s["STATUS_ID"] for s in app.portal.stages(int(cat_text))]
        moved_funnel = not creating and cat_text != before.get("CATEGORY_ID")
        if not staged.get("STAGE_ID") or (moved_funnel and "STAGE_ID" not in fields):
            staged["STAGE_ID"] = stages[0]
        if staged["STAGE_ID"] not in stages:
            raise ApiError(400, "", f"Stage (STAGE_ID) '{staged['STAGE_ID']}' does not belong to pipeline "
                                    f"{cat_text}. Allowed: {', '.join(stages)}.")
        sem = semantic(staged["STAGE_ID"])
        staged["STAGE_SEMANTIC_ID"] = sem
        staged["CLOSED"] = "N" if sem == "P" else "Y"
        staged["IS_NEW"] = "Y" if staged["STAGE_ID"] == stages[0] else "N"
        if creating or staged["STAGE_ID"] != before.get("STAGE_ID"):
            staged["MOVED_TIME"], staged["MOVED_BY_ID"] = now, str(user_id)
        if staged.get("CURRENCY_ID") is None:
            staged["CURRENCY_ID"] = "RUB"
        if staged.get("OPPORTUNITY") is None:
            staged["OPPORTUNITY"] = "0.00"
    if spec.name == "lead":
        statuses = [s["STATUS_ID"] for s in app.portal.statuses if s["ENTITY_ID"] == "STATUS"]
        if not staged.get("STATUS_ID"):
            staged["STATUS_ID"] = statuses[0]
        if staged["STATUS_ID"] not in statuses:
            raise ApiError(400, "", f"Status (STATUS_ID) '{staged['STATUS_ID']}' not found. "
                                    f"Allowed: {', '.join(statuses)}.")
        staged["STATUS_SEMANTIC_ID"] = {"CONVERTED": "S", "JUNK": "F"}.get(staged["STATUS_ID"], "P")
        if creating or staged["STATUS_ID"] != before.get("STATUS_ID"):
            staged["MOVED_TIME"], staged["MOVED_BY_ID"] = now, str(user_id)


def _int(value: Any, f: FieldSpec) -> int | None:
    if value in (None, "", False):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        raise core(f"The field \"{f.title}\" must be an integer, got {value!r}") from None


def _coerce(spec: EntitySpec, f: FieldSpec, value: Any, tz: str) -> Any:
    uf = spec.uf(f.name)
    if uf is not None and uf.type == "enumeration":
        raw = [v for v in as_list(value) if v not in (None, "", False)] if f.multiple or isinstance(
            value, (list, dict)) else ([value] if value not in (None, "", False) else [])
        ids = []
        for v in raw:
            iid = uf.item_id(str(v))
            if iid is None:
                allowed = ", ".join(f"{i} ({t})" for i, t in uf.items)
                raise core(f"Invalid value {v!r} for the list field \"{uf.label}\" ({uf.name}); allowed IDs: {allowed}")
            ids.append(iid)
        return ids if f.multiple else (ids[0] if ids else None)
    if f.multiple:
        return [_coerce_one(f, v, tz) for v in as_list(value) if v not in (None, "")]
    return _coerce_one(f, value, tz)


def _coerce_one(f: FieldSpec, value: Any, tz: str) -> Any:
    if value is None or (value == "" and f.kind != "str"):
        return None
    if f.kind == "int":
        n = _int(value, f)
        return None if n is None else str(n)
    if f.kind == "float":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise core(f"The field \"{f.title}\" must be a number, got {value!r}") from None
        return f"{number:.2f}"
    if f.kind == "date":
        try:
            return dates.normalise(value, tz, date_only=f.type == "date")
        except ValueError:
            raise core(f"The field \"{f.title}\" has an invalid date {value!r}") from None
    if f.type == "char":
        return "Y" if str(value).upper() in TRUE or value is True else "N"
    return str(value)
