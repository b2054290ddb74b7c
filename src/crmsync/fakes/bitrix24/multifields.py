"""Phones, e-mails, websites and messengers: Bitrix24's multi-fields and their odd update rules.

Stored on a record as ``PHONE: [{"ID","VALUE_TYPE","VALUE","TYPE_ID"}, …]`` (the legacy shape).
Legacy ``update`` edits entry by entry: no ``ID`` adds, ``ID``+``VALUE`` changes, ``ID`` with
``DELETE:"Y"``, an empty ``VALUE`` or no ``VALUE`` at all deletes, unmentioned entries stay.
``crm.item`` uses one ``fm`` list for all kinds, keyed ``n0, n1 …`` (new) or by entry id (change;
empty value deletes); an element without ``typeId`` is ignored, as the real API does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from crmsync.phpquery import as_list

from .entities import MULTI_FIELDS
from .errors import core

DEFAULT_TYPE = {"PHONE": "WORK", "EMAIL": "WORK", "WEB": "WORK", "IM": "OTHER"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EMAIL_LABEL = {"WORK": "Work e-mail", "HOME": "Personal e-mail", "MAILING": "Newsletter e-mail",
                "OTHER": "Other e-mail"}

NewId = Callable[[], int]


def _value(kind: str, entry: dict[str, Any]) -> str:
    value = str(entry.get("VALUE", entry.get("value", "")) or "").strip()
    vtype = str(entry.get("VALUE_TYPE") or entry.get("valueType") or DEFAULT_TYPE[kind]).upper()
    if kind == "EMAIL" and value and not _EMAIL.match(value):
        raise core(f"The field {_EMAIL_LABEL.get(vtype, 'E-mail')} contains an invalid address")
    return value


def _entry(new_id: NewId, kind: str, value: str, value_type: Any) -> dict[str, str]:
    vtype = str(value_type or DEFAULT_TYPE[kind]).upper()
    return {"ID": str(new_id()), "VALUE_TYPE": vtype, "VALUE": value, "TYPE_ID": kind}


def add_legacy(kind: str, incoming: Any, new_id: NewId) -> list[dict[str, str]]:
    out = []
    for entry in as_list(incoming):
        if isinstance(entry, dict):
            value = _value(kind, entry)
            if value:
                out.append(_entry(new_id, kind, value, entry.get("VALUE_TYPE")))
    return out


def update_legacy(kind: str, current: list[dict[str, str]], incoming: Any, new_id: NewId) -> list[dict[str, str]]:
    out = [dict(e) for e in current]
    for entry in as_list(incoming):
        if not isinstance(entry, dict):
            continue
        eid = str(entry.get("ID") or "").strip()
        if not eid:
            value = _value(kind, entry)
            if value:
                out.append(_entry(new_id, kind, value, entry.get("VALUE_TYPE")))
            continue
        target = next((e for e in out if e["ID"] == eid), None)
        if target is None:
            continue
        value = _value(kind, entry) if "VALUE" in entry else ""
        if str(entry.get("DELETE", "")).upper() == "Y" or not value:
            out.remove(target)
            continue
        target["VALUE"] = value
        if entry.get("VALUE_TYPE"):
            target["VALUE_TYPE"] = str(entry["VALUE_TYPE"]).upper()
    return out


def to_fm(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A record's multi-fields as crm.item's ``fm`` list."""
    return [{"id": int(e["ID"]), "typeId": kind, "valueType": e["VALUE_TYPE"], "value": e["VALUE"]}
            for kind in MULTI_FIELDS for e in record.get(kind) or []]


def apply_fm(record: dict[str, Any], fm: Any, new_id: NewId, kinds: tuple[str, ...]) -> None:
    """Apply crm.item ``fm`` (add or update) to the record's legacy multi-field lists."""
    pairs = list(fm.items()) if isinstance(fm, dict) else [(str(i), e) for i, e in enumerate(as_list(fm))]
    for key, entry in pairs:
        if not isinstance(entry, dict):
            continue
        kind = str(entry.get("typeId") or "").upper()
        if kind not in kinds:
            continue  # no typeId: the real API skips the element without a word
        eid = str(entry.get("id") or (key if str(key).isdigit() and isinstance(fm, dict) else "")).strip()
        current = record.setdefault(kind, [])
        if not eid:
            value = _value(kind, entry)
            if value:
                current.append(_entry(new_id, kind, value, entry.get("valueType")))
            continue
        for k in kinds:
            target = next((e for e in record.get(k) or [] if e["ID"] == eid), None)
            if target is None:
                continue
            value = _value(kind, entry)
            if not value:
                record[k].remove(target)
            else:
                target["VALUE"] = value
                if entry.get("valueType"):
                    target["VALUE_TYPE"] = str(entry["valueType"]).upper()
            break
