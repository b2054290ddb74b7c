"""API keys for the operations API: made by ``crmsync api-keys create``, shown once, kept only as a hash.

The hashes live in ``.crmsync/api-keys.json`` inside the project, not in the DuckDB store: a run
holds the store's single write lock for its whole chunk, and checking a key must never wait for
that (every request would stall while a pipeline runs). A key is 32 random bytes, so a plain
SHA-256 is enough (there is nothing to brute-force); comparisons are constant-time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from crmsync.errors import UserError
from crmsync.project import Project

SCOPES = ("read", "operate", "admin")   # each includes the ones before it
PREFIX = "crmsync_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ApiKey:
    key_id: str
    name: str
    scope: str
    hash: str
    created_at: str
    revoked_at: str | None = None

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "hash"}


def allows(granted: str, needed: str) -> bool:
    return SCOPES.index(granted) >= SCOPES.index(needed)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _path(project: Project):
    return project.state_dir / "api-keys.json"


def _load(project: Project) -> list[ApiKey]:
    try:
        raw = json.loads(_path(project).read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {_path(project)}: {exc}; restore it or delete it and create new keys") from None
    return [ApiKey(**k) for k in raw.get("keys", [])]


def _save(project: Project, keys: list[ApiKey]) -> None:
    path = _path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"keys": [asdict(k) for k in keys]}, fh, indent=1)
    os.replace(tmp, path)


def _locked(project: Project):
    from filelock import FileLock

    project.locks_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(project.locks_dir / "api-keys.lock"), timeout=10)


def create_key(project: Project, name: str, scope: str) -> dict[str, Any]:
    """A new key; the returned ``token`` is the only time it is ever shown."""
    if not _NAME.match(name):
        raise UserError(f"key name {name!r}: use letters, digits, '_', '-' or '.' (at most 64, no spaces)")
    if scope not in SCOPES:
        raise UserError(f"scope {scope!r} is not one of: {', '.join(SCOPES)}")
    with _locked(project):
        keys = _load(project)
        if any(k.name == name and k.revoked_at is None for k in keys):
            raise UserError(f"an active key named {name!r} exists; revoke it first or pick another name")
        token = PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(secrets.token_hex(6), name, scope, _digest(token), dt.datetime.now(dt.timezone.utc).isoformat())
        _save(project, [*keys, key])
    return {**key.public(), "token": token}


def list_keys(project: Project) -> dict[str, Any]:
    return {"keys": [k.public() for k in _load(project)]}


def revoke_key(project: Project, name_or_id: str) -> dict[str, Any]:
    with _locked(project):
        keys = _load(project)
        hits = [k for k in keys if k.revoked_at is None and name_or_id in (k.name, k.key_id)]
        if not hits:
            known = ", ".join(f"{k.name} ({k.key_id})" for k in keys if k.revoked_at is None) or "none"
            raise UserError(f"no active key named or with id {name_or_id!r}; active keys: {known}")
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        for k in hits:
            k.revoked_at = now
        _save(project, keys)
    return {"revoked": [k.public() for k in hits]}


def verify(project: Project, token: str) -> ApiKey | None:
    """The active key ``token`` is, or None (unknown or revoked)."""
    digest = _digest(token)
    found = None
    for key in _load(project):
        if hmac.compare_digest(key.hash, digest) and key.revoked_at is None:
            found = key
    return found
