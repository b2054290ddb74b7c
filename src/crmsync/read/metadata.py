"""The connector's ``metadata`` block, fetched: custom-field definitions, pipelines/stages, users.

Each entry is a request (a REST ``path`` or a Bitrix24-style ``method``), or a mapping of entity
name → request. What comes back is handed unchanged (records only) to the mapping layer, which
resolves custom fields by code or name and stages by pipeline through it.

A request says which part of the mapping layer's catalog it ``provides`` (custom_fields, users,
stages, companies), so a run asks only for what its mappings use
(:func:`crmsync.mapping.catalog_needs`): pushing contacts to AmoCRM needs neither the deals'
custom fields nor the pipelines. A request that does not say is always made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crmsync.errors import CrmError

MAX_PAGES = 200  # metadata lists are small; a runaway "next" must not loop forever


def fetch_metadata(connector: dict[str, Any], session: Any, base_url: str, *, parts: Iterable[str] | None = None,
                   entities: Iterable[str] | None = None, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """The connector's metadata; with ``parts``, only the requests that provide them (or do not say
    what they provide); with ``entities``, of the per-entity entries only theirs. ``into``: what an
    earlier call fetched, completed in place (nothing is asked twice)."""
    wanted = None if parts is None else set(parts)
    chosen = None if entities is None else set(entities)
    out: dict[str, Any] = {} if into is None else into

    def needed(spec: dict[str, Any]) -> bool:
        return wanted is None or spec.get("provides") is None or spec["provides"] in wanted

    for key, spec in (connector.get("metadata") or {}).items():
        if _is_request(spec):
            if key not in out and needed(spec):
                out[key] = fetch(spec, connector, session, base_url)
            continue
        got = out.setdefault(key, {})
        for entity, sub in spec.items():
            if entity not in got and (chosen is None or entity in chosen) and needed(sub):
                got[entity] = fetch(sub, connector, session, base_url)
    return out


def fetch(spec: dict[str, Any], connector: dict[str, Any], session: Any, base_url: str) -> Any:
    if "path" in spec:
        return _rest(spec, connector.get("paginator") or {}, session, base_url)
    return _method(spec, session, base_url)


def _is_request(spec: Any) -> bool:
    return isinstance(spec, dict) and ("path" in spec or "method" in spec)


def _rest(spec: dict[str, Any], paginator: dict[str, Any], session: Any, base_url: str) -> list[Any]:
    url = base_url.rstrip("/") + "/" + spec["path"]
    params = dict(spec.get("params") or {})
    if not spec.get("paged"):
        return _dig(_get(session, url, params), spec.get("records"))
    page_param, size_param = paginator.get("page_param", "page"), paginator.get("size_param", "limit")
    rows: list[Any] = []
    for page in range(paginator.get("first_page", 1), paginator.get("first_page", 1) + MAX_PAGES):
        body = _get(session, url, {**params, page_param: page, size_param: paginator.get("size", 250)})
        got = _dig(body, spec.get("records")) if body is not None else []
        rows.extend(got)
        if not got or not (body.get("_links") or {}).get("next"):
            return rows
    return rows


def _get(session: Any, url: str, params: dict[str, Any]) -> Any:
    response = session.get(url, params=params)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def _method(spec: dict[str, Any], session: Any, base_url: str) -> Any:
    url = base_url.rstrip("/") + "/" + spec["method"]
    params = dict(spec.get("params") or {})
    rows: list[Any] = []
    start: Any = 0
    for _ in range(MAX_PAGES):
        body = session.post(url, json={**params, **({"start": start} if spec.get("paged") else {})},
                            idempotent=True).json()  # a read
        if "result" not in body:
            raise CrmError(f"unexpected answer to {spec['method']}: {str(body)[:200]}")
        result = _dig(body["result"], spec.get("records"))
        if not spec.get("paged"):
            return result
        rows.extend(result)
        if "next" not in body:
            return rows
        start = body["next"]
    return rows


def _dig(value: Any, path: str | None) -> Any:
    for part in (path or "").split("."):
        if part:
            value = (value or {}).get(part)
    return [] if value is None else value
