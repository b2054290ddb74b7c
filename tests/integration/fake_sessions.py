"""Shared by the read and pull tests: a session to a fake CRM with its built-in no-OAuth credential."""

from __future__ import annotations

import time
from typing import Any

from crmsync.http.pacing import Unlimited, pacer_for
from crmsync.http.session import CrmSession
from crmsync.project import Project
from crmsync.specs.yamlload import load_yaml


def fake_session(project: Project, crm: str, server: Any, *, paced: bool = False,
                 sleep: Any = time.sleep) -> tuple[dict[str, Any], CrmSession, str]:
    """(connector spec, session, API base URL) for ``server``: AmoCRM's long-lived token, Bitrix24's webhook."""
    connector = load_yaml(project.connectors_dir / f"{crm}.yaml")
    pacer = pacer_for(connector["rate_limit"]) if paced else Unlimited()
    session = CrmSession.from_connector(connector, pacer, sleep=sleep)
    if crm == "amocrm":
        session.headers["Authorization"] = "Bearer demo-token"
        return connector, session, server.url
    return connector, session, server.url + "/rest/1/demo"


def store_rows(project: Project, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    """Rows of a query against the project's store, opened read-only and closed again."""
    import duckdb

    con = duckdb.connect(str(project.store_path()), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()
