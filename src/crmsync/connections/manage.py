"""``crmsync connections list|show|delete|test|rotate-key``: library functions returning result objects."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crmsync.errors import CrmError, UserError
from crmsync.project import Project
from crmsync.secrets import keys
from crmsync.secrets.vault import Vault, vault_for

from . import binding, repository
from .model import FAILING, OK, STATUS_LABELS, reconnect_command
from .session import authorized_session
from .tokens import NeedsReauthorisation


@dataclass
class ConnectionSummary:
    name: str
    crm: str
    auth: str
    status: str
    last_ok_at: str | None
    token_expires_at: str | None
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_connections(project: Project) -> list[ConnectionSummary]:
    out = []
    for conn in repository.list_all(project):
        public = conn.public()
        fix = None if conn.status == OK else reconnect_command(conn.crm, conn.name, conn.auth_type)
        out.append(ConnectionSummary(conn.name, conn.crm, conn.auth_type, STATUS_LABELS.get(conn.status, conn.status),
                                     public["last_ok_at"], public["token_expires_at"], fix))
    return out


def show_connection(project: Project, name: str) -> dict[str, Any]:
    conn = repository.get(project, name)  # not decrypted: show never needs (or prints) a secret
    public = conn.public()
    current = vault_for(project.state_dir, create=False).key_id if _has_key(project) else None
    public["key_matches"] = None if current is None else current == conn.key_id
    if conn.status != OK:
        public["fix"] = reconnect_command(conn.crm, conn.name, conn.auth_type)
    return public


def delete_connection(project: Project, name: str) -> dict[str, Any]:
    if not repository.delete(project, name):
        repository.get(project, name)  # raises the "no connection named ..., known: ..." error
    return {"deleted": name}


@dataclass
class TestResult:
    name: str
    status: str
    seconds: float
    refreshed: bool
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def test_connection(project: Project, name: str) -> TestResult:
    """One cheap call through the connection's real session (refreshing if needed); records the outcome."""
    started = time.monotonic()
    session = authorized_session(project, name)
    tokens = session.tokens
    conn = tokens.connection
    path = tokens.connector.check_path or tokens.connector.check_method or ""
    try:
        response = session.get(path)
    except NeedsReauthorisation:
        raise
    except CrmError as exc:
        repository.set_status(project, name, FAILING, str(exc))
        raise CrmError(f"connection '{name}' is failing: {exc}. If the credential was revoked, fix it with: "
                       f"{tokens.fix_command()}") from None
    if response.status_code >= 400:
        detail = f"HTTP {response.status_code} from the check call"
        repository.set_status(project, name, FAILING, detail)
        raise CrmError(f"connection '{name}' is failing: {detail}")
    _same_account(project, tokens, response)
    return TestResult(name, "ok", round(time.monotonic() - started, 3), tokens.refreshes > 0,
                      None if conn.auth_type != "oauth2" else f"token generation {tokens.connection.generation}")


def _same_account(project: Project, tokens: Any, response: Any) -> None:
    """The check call also shows whether the credential still reaches the account the connection is bound to."""
    conn = tokens.connection
    bound = conn.settings.get(binding.IDENTITY_KEY) or {}
    try:
        body = response.json()
    except ValueError:
        body = None
    seen = binding.observe(binding.identity_parts(tokens.connector.raw), check_body=body, base_url=conn.base_url)
    if binding.differences(bound, seen):
        error = binding.account_changed(conn, tokens.connector.title, bound, seen, tokens.fix_command())
        repository.set_status(project, conn.name, FAILING, f"it now reaches the account {binding.describe(seen)}")
        raise error


TestResult.__test__ = False  # type: ignore[attr-defined]  # not a pytest test class
test_connection.__test__ = False  # type: ignore[attr-defined]


@dataclass
class RotateResult:
    connections: int
    old_key_id: str
    new_key_id: str
    key_source: str
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rotate_key(project: Project, new_key_file: Path | None = None) -> RotateResult:
    """Re-encrypt every connection under a new key, in one transaction.

    Key file: the new key is written (fsynced) next to the old one as ``secret.key.new``, the rows
    are re-sealed and committed, then the file is renamed over ``secret.key``. A crash anywhere
    leaves a state the vault can open (it also tries a pending ``.new`` key); rerun to finish.
    Environment key: the new key goes to ``new_key_file`` for the user to put in ``CRMSYNC_SECRET_KEY``.
    """
    old = vault_for(project.state_dir)
    from_env = old.key.source == keys.ENV_VAR
    pending = keys.pending_key(project.state_dir)
    if pending is not None and not from_env:  # an interrupted rotation: finish it before starting another
        repository.reseal_all(project, old, Vault(pending))
        keys.promote_pending_key(project.state_dir)
        old = vault_for(project.state_dir)
    text = keys.new_key_text()
    if from_env:
        if new_key_file is None:
            raise UserError(f"the key comes from {keys.ENV_VAR}: pass --new-key-file PATH; the new key is written "
                            f"there (owner-only) for you to put into {keys.ENV_VAR}")
        keys.write_key_to(new_key_file, text)
        new = Vault(keys.parse_key(text, str(new_key_file)))
    else:
        path = keys.write_pending_key(project.state_dir, text)
        new = Vault(keys.parse_key(text, str(path)))
    count = repository.reseal_all(project, old, new)
    steps = []
    if from_env:
        steps.append(f"set {keys.ENV_VAR} to the contents of {new_key_file}, then delete that file")
    else:
        keys.promote_pending_key(project.state_dir)
    return RotateResult(count, old.key_id, new.key_id, keys.ENV_VAR if from_env else
                        str(keys.key_file(project.state_dir)), steps)


def _has_key(project: Project) -> bool:
    return bool(os.environ.get(keys.ENV_VAR)) or keys.key_file(project.state_dir).exists()
