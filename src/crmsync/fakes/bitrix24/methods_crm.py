"""Legacy ``crm.{contact,deal,lead,company}.*`` methods: one implementation driven by the entity tables.

Rows come out UPPER_CASE with string values; multi-fields appear only when named in ``select`` (lists)
or on ``get``, and never as empty lists. ``select`` defaults to ``['*', 'UF_*']``; ``'*'`` is every
standard field except multi-fields and user fields. Unknown filter keys are ignored (legacy behaviour).
"""

from __future__ import annotations

import bisect
import copy
import itertools
from typing import Any

from crmsync.phpquery import as_list

from . import dates, filters
from .entities import MULTI_FIELDS, EntitySpec, field_meta
from .errors import bad_id, not_found
from .registry import Call, Result, method
from .seed import blank
from .writes import apply, check_fields

DEFAULT_SELECT = ["*", "UF_*"]


def read(record: dict[str, Any], key: str) -> Any:
    if key in MULTI_FIELDS:
        return [e["VALUE"] for e in record.get(key) or []]
    return record.get(key)


def resolver(spec: EntitySpec) -> filters.Resolver:
    def resolve(name: str) -> tuple[str, str] | None:
        key = name if name.startswith("UF_") else name.upper()
        f = spec.by_name.get(key)
        return (f.name, f.kind) if f is not None and f.legacy else None
    return resolve


def select_names(spec: EntitySpec, select: Any) -> set[str]:
    wanted = [str(s).strip() for s in as_list(select) if str(s).strip()] or DEFAULT_SELECT
    names = {"ID"}
    for item in wanted:
        if item == "*":
            names |= {f.name for f in spec.fields if f.kind != "multi"}
        elif item == "UF_*":
            names |= {u.name for u in spec.user_fields}
        else:
            names.add(item if item.startswith("UF_") else item.upper())
    return names


def render(spec: EntitySpec, record: dict[str, Any], names: set[str] | None = None) -> dict[str, Any]:
    """A stored record as the legacy API prints it (``names=None``: everything ``get`` returns)."""
    out: dict[str, Any] = {}
    for f in spec.all_fields:
        if not f.legacy or (names is not None and f.name not in names):
            continue
        value = record.get(f.name)
        if f.kind == "multi":
            if value:
                out[f.name] = copy.deepcopy(value)
            continue
        out[f.name] = list(value) if isinstance(value, list) else value
    return out


def record_id(call: Call) -> int:
    raw = call.params.get("id")
    try:
        rid = int(float(str(raw)))
    except (TypeError, ValueError):
        raise bad_id() from None
    if rid <= 0:
        raise bad_id()
    return rid


def find(call: Call, spec: EntitySpec) -> tuple[int, dict[str, Any]]:
    rid = record_id(call)
    row = call.app.tables[spec.table].rows.get(rid)
    if row is None:
        raise not_found()
    return rid, row


def list_rows(call: Call, spec: EntitySpec, rows: Any) -> tuple[list[dict[str, Any]], int, int | None]:
    """Filter, order and page the rows of an entity's table (shared with ``crm.item.list`` via its own resolver)."""
    tz = call.app.config.timezone
    resolve = resolver(spec)
    conds = filters.compile_filter(call.params.object("filter"), resolve, tz)
    order = filters.parse_order(call.params.object("order"), resolve)
    if str(call.params.get("start")).strip() == "-1" and all(k == "ID" and not desc for k, _, desc in order):
        # The keyset fast path clients use (start=-1, ID ascending): walk rows in ID order and stop
        # at a full page, as the database would, instead of filtering and sorting the whole table.
        size, chunk = call.app.config.page_size, []
        if any(c.op in (">", ">=", "<", "<=") and c.pattern is None and (not c.values or c.values[0] is None)
               for c in conds):
            # A bound that is empty (a batch's ``$result[c0][49][ID]`` after c0 came back short) matches no
            # record: answer at once, as an index would, rather than test every record against it.
            return chunk, 0, None
        ordered, ids = call.app.id_order(spec.table)
        after = max((float(c.values[0]) for c in conds if c.key == "ID" and c.op in (">", ">=")
                     and c.values and c.values[0] is not None), default=None)
        start = bisect.bisect_left(ids, after) if after is not None else 0  # as an index on ID would
        for row in itertools.islice(ordered, start, None):
            if filters.matches(row, conds, read, tz):
                chunk.append(row)
                if len(chunk) == size:
                    break
        return chunk, 0, None
    matched = [r for r in rows if filters.matches(r, conds, read, tz)]
    matched = filters.order_rows(matched, order, read, tz, "ID")
    return filters.page(matched, call.params.get("start"), call.app.config.page_size)


def _import_mode(call: Call) -> bool:
    params = call.params.get("params")
    return isinstance(params, dict) and str(params.get("IMPORT", "")).upper() == "Y"


def _register(spec_name: str, writable: bool = True) -> None:
    prefix = f"crm.{spec_name}"

    def spec_of(call: Call) -> EntitySpec:
        return call.app.portal.specs[spec_name]

    @method(f"{prefix}.list")
    def list_(call: Call) -> Result:
        spec = spec_of(call)
        chunk, total, nxt = list_rows(call, spec, call.app.tables[spec.table].rows.values())
        names = select_names(spec, call.params.get("select"))
        return Result([render(spec, r, names) for r in chunk], total, nxt)

    @method(f"{prefix}.get")
    def get(call: Call) -> Result:
        spec = spec_of(call)
        return Result(render(spec, find(call, spec)[1]))

    @method(f"{prefix}.fields")
    def fields(call: Call) -> Result:
        spec = spec_of(call)
        return Result({f.name: field_meta(f, spec.uf(f.name)) for f in spec.all_fields})

    if not writable:
        return

    @method(f"{prefix}.add")
    def add(call: Call) -> Result:
        spec = spec_of(call)
        values = check_fields(call.params.get("fields"))
        table = call.app.tables[spec.table]
        row = blank(spec)
        apply(call.app, spec, row, values, creating=True, user_id=call.user_id, import_mode=_import_mode(call))
        rid = table.new_id()
        row["ID"] = str(rid)
        if spec.name == "deal" and not row.get("TITLE"):
            row["TITLE"] = f"Deal #{rid}"
        table.rows[rid] = row
        return Result(rid)

    @method(f"{prefix}.update")
    def update(call: Call) -> Result:
        spec = spec_of(call)
        values = check_fields(call.params.get("fields"))
        _, row = find(call, spec)
        apply(call.app, spec, row, values, creating=False, user_id=call.user_id, import_mode=_import_mode(call))
        return Result(True)

    @method(f"{prefix}.delete")
    def delete(call: Call) -> Result:
        spec = spec_of(call)
        rid, _ = find(call, spec)
        call.app.delete_record(spec.table, rid)
        return Result(True)


for _name in ("contact", "deal", "lead", "company"):
    _register(_name)


# -- deal ↔ contact links ------------------------------------------------------------------------
def _deal(call: Call) -> tuple[int, dict[str, Any]]:
    return find(call, call.app.portal.specs["deal"])


def _items(deal: dict[str, Any]) -> list[dict[str, Any]]:
    ids = deal.get("CONTACT_IDS") or []
    return [{"CONTACT_ID": int(c), "SORT": 10 * (i + 1), "ROLE_ID": 0, "IS_PRIMARY": "Y" if i == 0 else "N"}
            for i, c in enumerate(ids)]


def _set_contacts(call: Call, deal: dict[str, Any], ids: list[str]) -> None:
    deal["CONTACT_IDS"] = ids
    deal["CONTACT_ID"] = ids[0] if ids else None
    deal["DATE_MODIFY"] = dates.iso(call.app.clock.now(), call.app.config.timezone)
    deal["MODIFY_BY_ID"] = str(call.user_id)


@method("crm.deal.contact.items.get")
def contact_items_get(call: Call) -> Result:
    return Result(_items(_deal(call)[1]))


@method("crm.deal.contact.items.set")
def contact_items_set(call: Call) -> Result:
    _, deal = _deal(call)
    items = [i for i in as_list(call.params.get("items")) if isinstance(i, dict) and i.get("CONTACT_ID")]
    items.sort(key=lambda i: (str(i.get("IS_PRIMARY", "N")).upper() != "Y", int(i.get("SORT") or 0)))
    ids: list[str] = []
    for item in items:
        cid = str(int(float(item["CONTACT_ID"])))
        if cid not in ids:
            ids.append(cid)
    _set_contacts(call, deal, ids)
    return Result(True)


@method("crm.deal.contact.items.delete")
def contact_items_delete(call: Call) -> Result:
    _set_contacts(call, _deal(call)[1], [])
    return Result(True)


@method("crm.deal.contact.add")
def contact_add(call: Call) -> Result:
    _, deal = _deal(call)
    fields = check_fields(call.params.get("fields"))
    cid = str(int(float(fields.get("CONTACT_ID") or 0)))
    ids = [c for c in deal.get("CONTACT_IDS") or [] if c != cid]
    primary = str(fields.get("IS_PRIMARY", "N")).upper() == "Y"
    _set_contacts(call, deal, [cid, *ids] if primary or not ids else [*ids, cid])
    return Result(True)


@method("crm.deal.contact.delete")
def contact_delete(call: Call) -> Result:
    _, deal = _deal(call)
    fields = check_fields(call.params.get("fields"))
    cid = str(int(float(fields.get("CONTACT_ID") or 0)))
    _set_contacts(call, deal, [c for c in deal.get("CONTACT_IDS") or [] if c != cid])
    return Result(True)
