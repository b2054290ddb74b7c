"""An entity's ``links``: linked ids its list call cannot return, asked for a group of pages at once.

One command per page goes into one batch request (the envelope the connector's ``keyset_batch``
paginator declares: ``batch_method``, ``commands_key``, ``results_path``, ``errors_path``); each
command filters the linked call by the page's ids (``match``), and each record gets the ids found
for it under ``into``.
"""

from __future__ import annotations

from typing import Any

from crmsync.errors import CrmError
from crmsync.phpquery import build_query

from .paginators import as_map, value_at
from .storable import loads_exact


def attach_links(session: Any, base_url: str, pages: list[list[dict[str, Any]]], links: dict[str, Any],
                 record_id_field: str, envelope: dict[str, Any]) -> None:
    if not pages:
        return
    cmd = {}
    for k, page in enumerate(pages):
        params = {**(links.get("params") or {}), "select": links.get("select", ["id"]),
                  "filter": {links["match"]: [r[record_id_field] for r in page]}, **(envelope.get("params") or {})}
        cmd[f"l{k}"] = f"{links['method']}?{build_query(params)}"
    response = session.post(base_url.rstrip("/") + "/" + envelope["batch_method"],
                            json={**(envelope.get("body") or {}), envelope["commands_key"]: cmd},
                            idempotent=True)  # list calls
    body = loads_exact(response.content)
    results, errors = as_map(value_at(body, envelope["results_path"])), as_map(value_at(body, envelope["errors_path"]))
    if errors:
        raise CrmError(f"the CRM refused {links['method']}: {next(iter(errors.values()))}")
    found: dict[str, Any] = {}
    for k in range(len(pages)):
        rows = results.get(f"l{k}") or []
        if links.get("records") and isinstance(rows, dict):
            rows = rows.get(links["records"]) or []
        for row in rows:
            found[str(row.get(links.get("id_field", "id")))] = [str(v) for v in row.get(links["value"]) or []]
    for page in pages:
        for record in page:
            record[links["into"]] = found.get(str(record[record_id_field]), [])


def rest_links(links: dict[str, Any] | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The REST-form blocks of ``links`` (``path``: one POST of the records' ids each): one block, or a
    list of them when a record links to several kinds (a task's contacts and its deals)."""
    blocks = links if isinstance(links, list) else [links] if links else []
    return [b for b in blocks if "path" in b]


def rpc_links(links: dict[str, Any] | list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The ``links`` block when it is the RPC form (``method``, packed into the paginator's batch), else None."""
    return links if isinstance(links, dict) and "method" in links else None


def attach_all_rest_links(session: Any, base_url: str, records: list[dict[str, Any]],
                          blocks: list[dict[str, Any]], id_field: str) -> None:
    for block in blocks:
        attach_rest_links(session, base_url, records, block, id_field)


def attach_rest_links(session: Any, base_url: str, records: list[dict[str, Any]], links: dict[str, Any],
                      id_field: str) -> None:
    """The REST form: the records' ids POSTed to ``path`` (``size`` a call, each as ``{<id_key>: id}``
    under ``inputs_key``); each answer row (``records``) names its record at ``from_id`` and lists
    linked entries at ``to``, each id at ``to_id``. A record the answer does not name has no links."""
    size = int(links.get("size", 100))
    found: dict[str, list[str]] = {}
    ids = [str(r[id_field]) for r in records if r.get(id_field) is not None]
    for start in range(0, len(ids), size):
        inputs = [{links.get("id_key", "id"): i} for i in ids[start:start + size]]
        response = session.post(base_url.rstrip("/") + "/" + links["path"],
                                json={links.get("inputs_key", "inputs"): inputs}, idempotent=True)  # a read
        for row in value_at(loads_exact(response.content), links.get("records", "results")) or []:
            targets = value_at(row, links["to"]) or []
            found[str(value_at(row, links["from_id"]))] = [str(value_at(t, links["to_id"])) for t in targets]
    for record in records:
        record[links["into"]] = found.get(str(record.get(id_field)), [])
