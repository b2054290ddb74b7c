"""``KEY=VALUE`` text → typed fake settings, checked against the fake's config dataclass."""

from __future__ import annotations

import difflib
from dataclasses import MISSING, fields
from typing import Any

from . import fake_classes

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingError(ValueError):
    pass


def describe(name: str) -> list[tuple[str, str, Any]]:
    """(key, type, default) of every setting of fake ``name``."""
    _, cfg = fake_classes(name)
    return [(f.name, str(f.type), f.default if f.default is not MISSING else None) for f in fields(cfg)]


def parse_settings(name: str, pairs: list[str]) -> dict[str, Any]:
    known = {key: kind for key, kind, _ in describe(name)}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise SettingError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set next_link=exact")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SettingError(f"--set {key}: not a setting of the fake {name}{hint}; "
                               f"known: {', '.join(sorted(known))}")
        out[key] = _coerce(key, known[key], text.strip())
    return out


def _coerce(key: str, kind: str, text: str) -> Any:
    optional = "None" in kind
    base = kind.replace("| None", "").replace("Optional[", "").rstrip("]").strip()
    if optional and text.lower() in ("none", "null", ""):
        return None
    try:
        if base == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if base == "int":
            return int(text)
        if base == "float":
            return float(text)
    except ValueError:
        allowed = "true/false" if base == "bool" else f"a number ({base})"
        raise SettingError(f"--set {key}={text!r}: expected {allowed}" + (" or none" if optional else "")) from None
    return text
