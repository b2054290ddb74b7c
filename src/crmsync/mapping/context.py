"""What a transform may look at besides the value it converts."""

from __future__ import annotations

from typing import Any

from .catalog import CustomField, FieldCatalog
from .errors import Rejection
from .resolver import Resolver


class Context:
    """One per record and direction; the engine updates ``field``/``custom``/``current`` per field.

    ``record`` is the raw CRM record on pull and the whole canonical record on push (a stage needs
    its pipeline). ``current`` (push only) is the CRM's present raw value of the field being
    written, when the caller knows it (Bitrix24 multi-fields need it to delete old entries).
    """

    __slots__ = ("catalog", "resolver", "record", "direction", "field", "custom", "current", "notes")

    def __init__(self, catalog: FieldCatalog, resolver: Resolver | None, record: dict[str, Any],
                 direction: str) -> None:
        self.catalog = catalog
        self.resolver = resolver
        self.record = record
        self.direction = direction
        self.field = ""
        self.custom: CustomField | None = None
        self.current: Any = None
        self.notes: list[str] = []

    def reject(self, reason: str) -> Rejection:
        return Rejection(reason, self.field, self.direction)

    def note(self, text: str) -> None:
        self.notes.append(f"{self.field}: {text}")

    def need_resolver(self) -> Resolver:
        if self.resolver is None:
            raise self.reject("links between records need a resolver; none was given to the mapper")
        return self.resolver
