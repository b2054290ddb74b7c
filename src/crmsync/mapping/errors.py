"""What can go wrong while mapping: one record is set aside, or the mapping cannot be used at all."""

from __future__ import annotations

from crmsync.errors import UserError


class Rejection(Exception):
    """One record could not be mapped; it is set aside with this reason and the rest continues.

    ``field`` is the canonical field (``emails``, ``custom.source``) whose value was wrong,
    ``direction`` is ``pull`` (CRM → canonical) or ``push`` (canonical → CRM).
    """

    def __init__(self, reason: str, field: str = "", direction: str = "pull") -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.reason = reason
        self.field = field
        self.direction = direction

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason, "direction": self.direction}


class MappingError(UserError):
    """A mapping cannot be used with this CRM account (a custom field it names does not exist …).

    The user fixes the mapping or the CRM; ``problems`` lists every such problem at once. A
    configuration error (exit 2), found only when the CRM's own field list is read.
    """

    hint = "fix the name in the mapping file (or add the field in the CRM), then run again"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
