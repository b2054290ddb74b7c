"""JSON Schema validation that speaks to people: one problem per mistake, with line and allowed values.

jsonschema's raw errors are precise but hard to act on ("is not valid under any of the given
schemas"). This module turns them into :class:`Problem` s:

* a polymorphic block (``oneOf``/``anyOf`` whose branches pin ``type`` with ``const``) is judged by
  its ``type`` first: an unknown type says which types exist; a known one reports only the errors of
  that branch;
* an unknown key names the keys allowed there, with a "did you mean";
* a wrong enum value lists the allowed values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .problems import Problem, did_you_mean, dotted
from .yamlload import line_of

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
               "number": "a number", "boolean": "true or false", "null": "null"}


def check(data: Any, schema: dict[str, Any], file: str) -> list[Problem]:
    from jsonschema import Draft202012Validator  # here: a run whose specs passed before needs no jsonschema

    validator = Draft202012Validator(schema)
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_explain(error, data, file))
    return sorted(set(problems), key=lambda p: (p.line or 0, p.path, p.message))


def _explain(error: ValidationError, data: Any, file: str) -> Iterator[Problem]:
    path = list(error.absolute_path)
    where = dotted(path) or "(top level)"
    line = line_of(data, path)
    v = error.validator
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        # jsonschema reports a bad key at its parent; name the key itself, on its own line.
        path = [*path, error.instance]
        where, line = dotted(path), line_of(data, path)
    if v in ("oneOf", "anyOf"):
        needs = _required_alternatives(error.validator_value)
        if needs:
            yield Problem(file, line, where, f"needs one of the fields {' or '.join(map(repr, needs))}")
            return
        branches = _typed_branches(error.validator_value)
        if branches and isinstance(error.instance, dict):
            kind = error.instance.get("type")
            if kind not in branches:
                shown = where + ".type"
                got = "missing" if kind is None else f"{kind!r} is not one of the known types"
                yield Problem(file, line_of(data, [*path, "type"]), shown, got, tuple(sorted(branches)))
                return
            for sub in error.context or []:
                if sub.relative_schema_path and sub.relative_schema_path[0] == branches[kind]:
                    yield from _explain(sub, data, file)
            return
        best = _closest(error)
        if best is not None:
            yield from _explain(best, data, file)
            return
        yield Problem(file, line, where, "does not match any of the accepted forms")
        return
    if v == "additionalProperties":
        allowed = sorted((error.schema.get("properties") or {}).keys())
        for key in _extra_keys(error):
            yield Problem(file, line_of(data, [*path, key]), dotted([*path, key]),
                          f"unknown field{did_you_mean(str(key), allowed)}", tuple(allowed))
        return
    if v == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        yield Problem(file, line, where, f"missing required field {missing!r}")
        return
    if v == "enum":
        allowed = tuple(str(x) for x in error.validator_value)
        hint = did_you_mean(str(error.instance), allowed)
        yield Problem(file, line, where, f"{error.instance!r} is not allowed{hint}", allowed)
        return
    if v == "const":
        yield Problem(file, line, where, f"must be {error.validator_value!r}, not {error.instance!r}")
        return
    if v == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        yield Problem(file, line, where, f"expected {names}, got {_describe(error.instance)}")
        return
    if v == "pattern":
        hint = _first_sentence(error.schema.get("description", ""))
        from crmsync.secrets.masking import mask  # a DSN typed where its variable's name belongs

        yield Problem(file, line, where, f"{mask(repr(error.instance))} does not have the expected form"
                      + (f": {hint}" if hint else f" (pattern {error.validator_value})"))
        return
    yield Problem(file, line, where, error.message)


def _required_alternatives(branches: Any) -> list[str]:
    """["path", "method"] for ``anyOf: [{required: [path]}, {required: [method]}]``, else []."""
    names: list[str] = []
    for branch in branches or []:
        if not isinstance(branch, dict) or set(branch) != {"required"} or len(branch["required"]) != 1:
            return []
        names.append(str(branch["required"][0]))
    return names


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.;])(?<!e\.g\.)(?<!i\.e\.)\s", text, maxsplit=1)[0].rstrip(".;")


def _typed_branches(branches: Any) -> dict[str, int]:
    """{type name: branch index} when every branch pins ``properties.type.const``."""
    out: dict[str, int] = {}
    for i, branch in enumerate(branches or []):
        const = (((branch or {}).get("properties") or {}).get("type") or {}).get("const")
        if const is None:
            return {}
        out[str(const)] = i
    return out


def _closest(error: ValidationError) -> ValidationError | None:
    """Among a oneOf's failed branches, the error from the branch that got furthest."""
    ctx = list(error.context or [])
    if not ctx:
        return None
    by_branch: dict[Any, list[ValidationError]] = {}
    for sub in ctx:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    # A branch whose only complaint is the JSON type is the wrong shape altogether: prefer others.
    ranked = sorted(by_branch.values(), key=lambda errs: (all(e.validator == "type" and not e.path for e in errs),
                                                          len(errs), -max(len(e.path) for e in errs)))
    return ranked[0][0] if ranked else None


def _extra_keys(error: ValidationError) -> list[str]:
    allowed = set((error.schema.get("properties") or {}).keys())
    patterns = error.schema.get("patternProperties") or {}
    return [k for k in error.instance if k not in allowed and not any(re.search(p, str(k)) for p in patterns)]


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"the text {str(value)[:40]!r}"
