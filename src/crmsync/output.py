"""The one ``--json`` contract (README "JSON output"): every command prints one JSON object on stdout,

    {"command": "pull", "ok": true, "exit_code": 0, ...the command's fields...}
    {"command": "pull", "ok": false, "exit_code": 2, "error": {"code": "config", "message": …, "hint": …,
                                                                "transient": false}}

with every timestamp in one format (:func:`timestamp`). The command's fields come from library
functions that return plain dicts, so ``crmsync serve`` answers with the same shapes. The schema of
each command's document is ``crmsync/schemas/output/<command>.schema.json``.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

from crmsync.errors import EXIT_CODES, INTERNAL, CrmsyncError, is_transient

SCHEMA_PACKAGE = "crmsync.schemas.output"


def timestamp(value: dt.datetime | dt.date | str | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` and whole seconds: ``2026-12-06T02:29:09Z``. A naive datetime
    is UTC (DuckDB hands TIMESTAMP values back naive)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_time_key(key: object) -> bool:
    return isinstance(key, str) and (key.endswith("_at") or key in {"next_run", "timestamp"})


def normalise(data: Any, key: object = None) -> Any:
    """``data`` with every datetime, and every string under a ``*_at`` key, in the one format.
    User data (canonical values in a conflict) is left as it is unless it is a datetime object."""
    if isinstance(data, dict):
        return {k: normalise(v, k) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [normalise(v) for v in data]
    if isinstance(data, dt.datetime) or (isinstance(data, str) and _is_time_key(key)):
        return timestamp(data)
    return data


def success(command: str, data: dict[str, Any], *, exit_code: int = 0) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"{command}: --json data must be an object, not {type(data).__name__}")
    document: dict[str, Any] = {"command": command, "ok": exit_code == 0, "exit_code": exit_code}
    document.update((k, v) for k, v in normalise(data).items() if k not in document)  # the envelope wins
    return document


def failure(command: str, exc: BaseException, *, exit_code: int | None = None, message: str | None = None
            ) -> dict[str, Any]:
    code = exit_code if exit_code is not None else getattr(exc, "exit_code", INTERNAL)
    name, meaning = EXIT_CODES.get(code, EXIT_CODES[INTERNAL])
    hint = exc.hint if isinstance(exc, CrmsyncError) and exc.hint else meaning
    return {"command": command, "ok": False, "exit_code": code,
            "error": {"code": name, "message": message if message is not None else str(exc), "hint": hint,
                      "transient": is_transient(exc)}}


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema ``name`` of crmsync/schemas/output (``conflicts list`` → conflicts-list)."""
    from crmsync.jsontext import loads

    file = resources.files("crmsync").joinpath("schemas", "output", f"{name.replace(' ', '-')}.schema.json")
    return loads(file.read_bytes())


def check(document: dict[str, Any]) -> None:
    """Validate a ``--json`` document against its command's schema (a result: exit 0, or 5 for a run
    with issues; validate's own) or the error schema; raises ``jsonschema.ValidationError``."""
    import jsonschema
    from referencing import Registry, Resource

    names = [p.name.removesuffix(".schema.json")
             for p in resources.files("crmsync").joinpath("schemas", "output").iterdir()
             if p.name.endswith(".schema.json")]
    registry = Registry().with_resources(
        (schema(n)["$id"], Resource.from_contents(schema(n))) for n in names)
    command = document.get("command", "")
    is_result = document.get("exit_code") in (0, 5) or command == "validate"
    chosen = schema(command if is_result else "error")
    jsonschema.Draft202012Validator(chosen, registry=registry,
                                    format_checker=jsonschema.FormatChecker()).validate(document)
