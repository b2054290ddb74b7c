"""``batch``: up to 50 sub-calls in one HTTP request, each written as ``method?querystring``.

Sub-calls run in order through the same method registry as direct calls (so their results and errors
are identical), may refer to earlier results with ``$result[key][field]`` (``$result[key][0][ID]`` for
list results, also ``$result_total[key]`` and ``$result_next[key]``), and are collected into
``result / result_error / result_total / result_next / result_time`` maps that serialise the way PHP's
``json_encode`` does: empty → ``[]``, keys 0..n-1 → a JSON list. Only successful sub-calls get a
``result_time``. The whole batch passes the leaky bucket once (done by the app before dispatch).
"""

from __future__ import annotations

import re
from typing import Any

from crmsync.phpquery import parse_query, php_array

from .errors import ApiError
from .registry import Call, Params, Result, method

_REF = re.compile(r"\$(result|result_total|result_next)((?:\[[^\]\[]*\])+)")
_PART = re.compile(r"\[([^\]\[]*)\]")


def commands(raw: Any) -> list[tuple[str, str]]:
    if isinstance(raw, list):
        return [(str(i), str(v)) for i, v in enumerate(raw)]
    if isinstance(raw, dict):
        return [(str(k), str(v)) for k, v in raw.items()]
    if raw in (None, ""):
        return []
    raise ApiError(400, "INVALID_REQUEST", "Parameter 'cmd' must be an array of commands")


def _lookup(source: Any, path: list[str]) -> Any:
    node = source
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def substitute(value: Any, found: dict[str, dict[str, Any]]) -> Any:
    """Replace ``$result[...]`` references inside a decoded parameter value (recursing into arrays)."""
    if isinstance(value, dict):
        return {k: substitute(v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, found) for v in value]
    if not isinstance(value, str) or "$result" not in value:
        return value
    whole = _REF.fullmatch(value)
    if whole:  # a whole value that names an array keeps it an array
        hit = _lookup(found[whole.group(1)], _PART.findall(whole.group(2)))
        return "" if hit is None else hit if isinstance(hit, (list, dict)) else _scalar(hit)
    return _REF.sub(lambda m: _scalar(_lookup(found[m.group(1)], _PART.findall(m.group(2)))), value)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "1"
    if value is False:
        return ""
    return str(value)


def _halt(raw: Any) -> bool:
    return str(raw).strip().lower() in ("1", "true", "y")


@method("batch")
def batch(call: Call) -> Result:
    cmds = commands(call.params.get("cmd"))
    limit = call.app.config.batch_limit
    if len(cmds) > limit:
        raise ApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", f"Max batch length exceeded ({limit})")
    halt = _halt(call.params.get("halt", 0))
    found: dict[str, dict[str, Any]] = {"result": {}, "result_total": {}, "result_next": {}}
    errors: dict[str, Any] = {}
    times: dict[str, Any] = {}
    for key, line in cmds:
        name, _, query = line.partition("?")
        name = name.strip()
        try:
            if name.lower() == "batch":
                raise ApiError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage.")
            params = Params(substitute(parse_query(query), found))
            result, timing = call.app.run_method(name, params, call.user_id)
        except ApiError as exc:
            errors[key] = exc.body()
            if halt:
                break
            continue
        found["result"][key] = result.result
        if result.total is not None:
            found["result_total"][key] = result.total
        if result.next is not None:
            found["result_next"][key] = result.next
        times[key] = timing
    return Result({"result": php_array(found["result"]), "result_error": php_array(errors),
                   "result_total": php_array(found["result_total"]), "result_next": php_array(found["result_next"]),
                   "result_time": php_array(times)})

