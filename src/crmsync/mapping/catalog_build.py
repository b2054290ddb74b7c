"""A :class:`~.catalog.FieldCatalog` from a connector's ``catalog`` block: which metadata records
become custom fields, users, stages and companies, and which of their fields say what.

A value is addressed by a *pick* (documented with the connector schema's ``catalog`` block):

* ``"name"`` / ``"a.b"``: a dotted path in the record; ``"../name"``: in the parent record (stages
  nested in their pipeline); ``"@key"``: the record's key when the metadata answer is a map;
* ``[a, b, c]``: the first of these that is not empty;
* ``{join: [a, b], with: " "}``: the non-empty ones joined;
* ``{field: a, in: [x, y]}``: true when the value is one of these;
* ``{field: a, default: x}``: the value, or ``x`` when it is empty;
* ``{const: x}``: ``x``;
* ``{from: entry, match: a, value: b}``: ``b`` of the record of metadata ``entry`` whose ``a``
  equals this value (``field``, default the stage's ``pipeline_id``).

A *condition* (``where``, a stage's ``won`` / ``lost``) maps picks to wanted values: a value, a list
of allowed values, or ``{prefix: text}``; every one must hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import CustomField, FieldCatalog, Stage, User
from .layouts import layout_from

_EMPTY = (None, "", [], {})


def build_from_spec(connector: Mapping[str, Any], metadata: Mapping[str, Any], entity: str) -> FieldCatalog:
    spec = connector.get("catalog") or {}
    crm = str(connector.get("name") or "crm")
    fields = [_custom_field(r, p, spec["custom_fields"], metadata)
              for r, p in _records(spec.get("custom_fields"), metadata, entity)] if spec.get("custom_fields") else []
    users = [User(_pick(r, u["id"], p, metadata), _pick(r, u.get("email", "email"), p, metadata) or None,
                  str(_pick(r, u.get("name", "name"), p, metadata) or ""))
             for u in [spec.get("users")] if u for r, p in _records(u, metadata, entity)]
    stages = []
    if spec.get("stages"):
        s = spec["stages"]
        for r, p in _records(s, metadata, entity):
            pipeline_id = _pick(r, s["pipeline_id"], p, metadata)
            pipeline = _pick(r, s.get("pipeline", {"const": None}), p, metadata, pipeline_id)
            status = next((name for name in ("won", "lost") if s.get(name) and _holds(r, s[name], p, metadata)),
                          "open")
            stages.append(Stage(pipeline_id, pipeline if pipeline not in _EMPTY else str(pipeline_id),
                                _pick(r, s["id"], p, metadata), str(_pick(r, s["name"], p, metadata) or ""), status))
    companies = {}
    if spec.get("companies"):
        c = spec["companies"]
        companies = {_pick(r, c["id"], p, metadata): str(_pick(r, c["name"], p, metadata) or "")
                     for r, p in _records(c, metadata, entity)}
    catalog = FieldCatalog(crm, entity, fields, users, stages, companies)
    catalog.layout = layout_from((spec.get("custom_fields") or {}).get("layout"), crm)
    return catalog


def _custom_field(record: Any, parent: Any, spec: Mapping[str, Any], metadata: Mapping[str, Any]) -> CustomField:
    fid = _pick(record, spec["id"], parent, metadata)
    options: dict[str, str] = {}
    if spec.get("options"):
        o = spec["options"]
        for item in _at(record, o["from"]) or ():
            options[str(_pick(item, o["id"], record, metadata))] = _pick(item, o["label"], record, metadata)
    return CustomField(id=fid, name=str(_pick(record, spec.get("name", "name"), parent, metadata) or fid),
                       code=_pick(record, spec["code"], parent, metadata) if spec.get("code") else None,
                       type=str(_pick(record, spec.get("type", "type"), parent, metadata) or "text"),
                       multiple=bool(_pick(record, spec["multiple"], parent, metadata)) if spec.get("multiple")
                       else False, options=options)


def _records(part: Mapping[str, Any] | None, metadata: Mapping[str, Any], entity: str) -> list[tuple[Any, Any]]:
    """(record, parent) pairs of a catalog part: its metadata entry (``from``; an entry per entity is
    taken for ``entity``), the nested ``each`` of every record if it says so, filtered by ``where``."""
    if not part:
        return []
    got = metadata.get(part["from"])
    if isinstance(got, Mapping) and part.get("per_entity"):
        got = got.get(entity)
    if isinstance(got, Mapping):  # a map answer (field id -> definition): each value, its key as "@key"
        rows = [{**v, "@key": k} if isinstance(v, Mapping) else {"@key": k, "@value": v} for k, v in got.items()]
    else:
        rows = list(got or ())
    pairs = [(child, row) for row in rows for child in (_at(row, part["each"]) or ())] if part.get("each") \
        else [(row, None) for row in rows]
    where = part.get("where")
    return [(r, p) for r, p in pairs if not where or _holds(r, where, p, metadata)]


def _at(record: Any, path: str) -> Any:
    if path == "@key" or path == "@value":
        return record.get(path) if isinstance(record, Mapping) else None
    for part in path.split("."):
        record = record.get(part) if isinstance(record, Mapping) else None
    return record


def _pick(record: Any, pick: Any, parent: Any, metadata: Mapping[str, Any], here: Any = None) -> Any:
    if isinstance(pick, str):
        return _at(parent, pick[3:]) if pick.startswith("../") else _at(record, pick)
    if isinstance(pick, list):
        return next((v for v in (_pick(record, p, parent, metadata) for p in pick) if v not in _EMPTY), None)
    if "const" in pick:
        return pick["const"]
    if "join" in pick:
        parts = [_pick(record, p, parent, metadata) for p in pick["join"]]
        return pick.get("with", " ").join(str(v) for v in parts if v not in _EMPTY)
    if "from" in pick:
        wanted = here if "field" not in pick else _pick(record, pick["field"], parent, metadata)
        for row in metadata.get(pick["from"]) or ():
            if str(_at(row, pick["match"])) == str(wanted):
                return _at(row, pick["value"])
        return None
    value = _pick(record, pick["field"], parent, metadata)
    if "in" in pick:
        return value in pick["in"]
    return pick.get("default") if value in _EMPTY else value


def _holds(record: Any, condition: Mapping[str, Any], parent: Any, metadata: Mapping[str, Any]) -> bool:
    for pick, wanted in condition.items():
        value = _pick(record, pick, parent, metadata)
        if isinstance(wanted, Mapping) and "prefix" in wanted:
            if not str(value or "").startswith(str(wanted["prefix"])):
                return False
        elif isinstance(wanted, list):
            if str(value) not in [str(w) for w in wanted]:
                return False
        elif str(value) != str(wanted):
            return False
    return True
