"""The connector's ``metadata`` block, fetched: custom-field definitions, pipelines/stages, users.

Each entry is a request (a REST ``path`` or an RPC ``method``), or a mapping of entity name →
request; a paged one is walked by a paginator like any listing (:mod:`.paginators`). What comes
back is handed unchanged (records only) to the mapping layer, which
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

from .calls import call_for, paginator_for
from .paginators import records_at, send, value_at, walk
from .storable import loads_exact


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


def fetched_parts(connector: dict[str, Any], fetched: dict[str, Any], entity: str) -> frozenset[str]:
    """The catalog parts ``fetched`` (as :func:`fetch_metadata` fills it) already holds for ``entity``:
    those whose every providing request was made (a ``crmsync sync`` hands its pull's to its push)."""
    made: dict[str, bool] = {}
    for key, spec in (connector.get("metadata") or {}).items():
        entries = [(spec, key in fetched)] if _is_request(spec) else \
            [(sub, name in (fetched.get(key) or {})) for name, sub in spec.items() if name == entity]
        for sub, done in entries:
            if sub.get("provides"):
                made[sub["provides"]] = made.get(sub["provides"], True) and done
    return frozenset(part for part, done in made.items() if done)


def fetch(spec: dict[str, Any], connector: dict[str, Any], session: Any, base_url: str) -> Any:
    """One metadata call's records: every page when it is ``paged`` (walked by its paginator, else the
    connector's), else what the one answer holds at ``records`` (a list, or a map such as a field list)."""
    what = spec.get("path") or spec.get("method")
    call = call_for(spec, base_url, where=f"connector {connector.get('name')}, metadata {what}")
    if spec.get("paged"):
        rows: list[Any] = []
        for _, page in walk(paginator_for(connector, spec), session, call):
            rows.extend(page if isinstance(page, list) else records_at(loads_exact(page), call.records))
        return rows
    response = send(session, call)
    if response.status_code >= 300 and response.status_code != 204:
        raise CrmError(f"{call.where}: the CRM answered {response.status_code}: {response.text[:300]}")
    value = value_at(loads_exact(response.content), call.records or "") if response.content else None
    return [] if value is None else value


def _is_request(spec: Any) -> bool:
    return isinstance(spec, dict) and ("path" in spec or "method" in spec)
