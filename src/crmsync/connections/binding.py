"""A connection is bound to one CRM account; nothing is written to another.

What identifies an account is data: the connector spec's ``account.identity`` (an AmoCRM account's id
and subdomain from its check call; a Bitrix24 portal's member id from the OAuth grant and its host).
The identity is stored with the connection at ``crmsync connect``; ``connect --replace`` that reaches
another account (or another CRM) is refused unless ``--new-account`` says so, which moves the old
account's links to ``sync.detached_links`` (kept, never used again) so no record number of one account
is written in the other. Every run checks the identity before anything is written
(:func:`ensure_bound`), and so does every token refresh (the grant names the account again).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from crmsync.errors import UserError
from crmsync.project import Project

from .model import Connection, reconnect_command

CHECK, GRANT, BASE_URL = "check", "grant", "base_url"
IDENTITY_KEY = "identity"   # in Connection.settings: {name: value} as observed when the connection was bound


class AccountMismatch(UserError):
    """The credential reaches another account than the one the connection (and its links) belong to."""


@dataclass(frozen=True)
class IdentityPart:
    name: str
    source: str              # check (the check call's answer) | grant (the OAuth token answer) | base_url (its host)
    field: str | None = None  # dotted path in the answer (check, grant)


def identity_parts(connector: dict[str, Any]) -> list[IdentityPart]:
    """The connector spec's ``account.identity`` (validated by the connector JSON Schema)."""
    items = ((connector.get("account") or {}).get("identity")) or []
    return [IdentityPart(str(i["name"]), str(i["from"]), i.get("field")) for i in items if isinstance(i, dict)]


def observe(parts: list[IdentityPart], *, check_body: Any = None, grant: dict[str, Any] | None = None,
            base_url: str | None = None) -> dict[str, str]:
    """The identity values these sources show; a part whose source was not given (or lacks it) is left out."""
    out: dict[str, str] = {}
    for part in parts:
        value: Any = None
        if part.source == CHECK and check_body is not None:
            value = _dig(check_body, part.field)
        elif part.source == GRANT and grant is not None:
            value = _dig(grant, part.field)
        elif part.source == BASE_URL and base_url:
            value = urlsplit(base_url).netloc.lower() or None
        if value not in (None, ""):
            out[part.name] = str(value)
    return out


def differences(bound: dict[str, str], seen: dict[str, str]) -> list[str]:
    """The identity parts both sides know and that differ (a part one side cannot see proves nothing)."""
    return [k for k in bound if k in seen and str(bound[k]) != str(seen[k])]


def describe(identity: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in identity.items()) or "unknown"


def check_replace(old: Connection, new: Connection, *, new_account: bool, title: str) -> None:
    """Refuse a ``connect --replace`` that reaches another account or CRM, unless ``new_account``.

    With ``new_account`` it must really be another account: detaching the links of the same account
    would make the next sync create every record again."""
    bound, seen = old.settings.get(IDENTITY_KEY) or {}, new.settings.get(IDENTITY_KEY) or {}
    if old.crm != new.crm:
        if not new_account:
            raise _other_crm(old, new.crm)
        return
    changed = differences(bound, seen)
    if changed and not new_account:
        raise AccountMismatch(
            f"connection '{old.name}' is bound to the {title} account {describe(bound)}; the new credential "
            f"belongs to the account {describe(seen)}. Its links are record numbers of the first account: "
            f"the same numbers in another account are other people's records, so the connection was not "
            f"changed. To sync the other account, connect it under another --name (and a pipeline of its "
            f"own), or pass --new-account to re-point '{old.name}' (its old links are kept in history and "
            f"never used again). Nothing was saved")
    if new_account and bound and not changed:
        raise UserError(f"--new-account: the credential belongs to the account connection '{old.name}' is "
                        f"already bound to ({describe(bound)}); detaching its links would make the next sync "
                        f"create every record again. Drop --new-account to re-authorise it. Nothing was saved")


def _other_crm(old: Connection, crm: str) -> AccountMismatch:
    return AccountMismatch(
        f"connection '{old.name}' is a {old.crm} connection; --replace cannot turn it into a {crm} one (its "
        f"pipelines send {old.crm} calls and its links are {old.crm} record numbers). Use another --name for "
        f"the {crm} account, or pass --new-account if '{old.name}' should now mean that account (its old "
        f"links are kept in history and never used again; pipelines with crm: {old.crm} will refuse to run "
        f"on it). Nothing was saved")


# -- detaching the old account's links ----------------------------------------------------------------
DETACHED_DDL = """
CREATE SCHEMA IF NOT EXISTS sync;
CREATE TABLE IF NOT EXISTS sync.detached_links (   -- links of an account a connection no longer points at
    connection VARCHAR NOT NULL, entity VARCHAR NOT NULL, remote_id VARCHAR NOT NULL, canonical_id VARCHAR,
    account JSON,                   -- the identity of the account those remote ids belong to
    link JSON NOT NULL,             -- the sync.links row as it was
    detached_at TIMESTAMPTZ NOT NULL
)"""


def detach(con: Any, name: str, account: dict[str, str]) -> dict[str, int]:
    """Inside the caller's transaction: move ``name``'s links to ``sync.detached_links``; close its open
    outbox operations (their remote ids and payloads are the old account's); forget its raw tables, so
    the next pull reads the new account from the start."""
    counts = {"links": 0, "outbox": 0}
    con.execute(DETACHED_DDL)
    if _table_exists(con, "sync", "links"):
        counts["links"] = con.execute("SELECT count(*) FROM sync.links WHERE connection = ?", [name]).fetchone()[0]
        con.execute("INSERT INTO sync.detached_links SELECT l.connection, l.entity, l.remote_id, l.canonical_id, "
                    "?::JSON, to_json(l), now() FROM sync.links l WHERE l.connection = ?",
                    [json.dumps(account, sort_keys=True), name])
        con.execute("DELETE FROM sync.links WHERE connection = ?", [name])
    if _table_exists(con, "sync", "outbox"):
        counts["outbox"] = con.execute(
            "SELECT count(*) FROM sync.outbox WHERE connection = ? AND status IN ('pending', 'sending', 'failed')",
            [name]).fetchone()[0]
        con.execute("UPDATE sync.outbox SET status = 'detached', last_error = 'the connection was re-pointed at "
                    "another account (connect --new-account)' WHERE connection = ? "
                    "AND status IN ('pending', 'sending', 'failed')", [name])
    con.execute(f'DROP SCHEMA IF EXISTS "raw_{name}" CASCADE')
    return counts


def forget_read_state(project: Project, name: str) -> None:
    """The incremental cursors of the old account mean nothing in the new one (after :func:`detach` commits)."""
    from crmsync.read.held_state import pipeline_name

    shutil.rmtree(project.dlt_dir / pipeline_name(name), ignore_errors=True)


def _table_exists(con: Any, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                            [schema, table]).fetchone())


# -- at run time --------------------------------------------------------------------------------------
def ensure_bound(session: Any, pipeline_crm: str, pipeline: str) -> dict[str, str]:
    """Before a run writes anything: the pipeline's CRM is the connection's, and the connection still
    reaches the account it is bound to (one check call when the identity comes from it). A connection
    bound before identities were kept is bound now, to what it reaches."""
    from . import repository

    tokens = session.tokens
    conn = tokens.connection
    if conn.crm != pipeline_crm:
        raise UserError(f"pipeline {pipeline} has crm: {pipeline_crm}, but its connection '{conn.name}' is a "
                        f"{conn.crm} connection: its calls would go to the wrong API. Point the pipeline's "
                        f"`connection:` at a {pipeline_crm} connection (crmsync connections list), or create "
                        f"one with `crmsync connect {pipeline_crm} --name NAME ...`")
    parts = identity_parts(tokens.connector.raw)
    body = _check_body(session) if any(p.source == CHECK for p in parts) else None
    seen = observe(parts, check_body=body, base_url=conn.base_url)
    bound = conn.settings.get(IDENTITY_KEY) or {}
    if not bound:
        if seen:
            repository.update_settings(tokens.project, conn.name, {IDENTITY_KEY: seen, "bound_at": time.time()})
            conn.settings[IDENTITY_KEY] = seen
        return seen
    changed = differences(bound, seen)
    if changed:
        raise account_changed(conn, tokens.connector.title, bound, seen, tokens.fix_command())
    return bound


def account_changed(conn: Connection, title: str, bound: dict[str, str], seen: dict[str, str],
                    fix: str | None = None) -> AccountMismatch:
    fix = fix or reconnect_command(conn.crm, conn.name, conn.auth_type)
    return AccountMismatch(
        f"connection '{conn.name}' is bound to the {title} account {describe(bound)}, but its credential now "
        f"reaches the account {describe(seen)}. The run stopped before writing anything: its links are record "
        f"numbers of the first account. If the address or credential is wrong, fix it with: {fix}. If this "
        f"connection should now sync the other account, run that command with --new-account (the old "
        f"account's links are kept in history and never used again)")


def _check_body(session: Any) -> Any:
    connector = session.tokens.connector
    response = session.get(connector.check_path or connector.check_method or "")
    try:
        return response.json()
    except ValueError:
        return None


def _dig(data: Any, path: str | None) -> Any:
    for key in (path or "").split("."):
        if not key:
            continue
        if isinstance(data, dict) and key in data:
            data = data[key]
        else:
            return None
    return data
