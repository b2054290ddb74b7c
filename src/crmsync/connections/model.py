"""A connection: what is stored about one CRM account, split into public settings and sealed credentials."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .spec import LONG_LIVED_TOKEN, OAUTH2, WEBHOOK_URL

OK, NEEDS_REAUTH, FAILING = "ok", "needs_reauth", "failing"
STATUS_LABELS = {OK: "ok", NEEDS_REAUTH: "needs re-authorisation", FAILING: "failing"}

# Keys of `credentials` (sealed in the vault). Everything else about a connection is not secret.
SECRET_FIELDS = ("access_token", "refresh_token", "previous_refresh_token", "client_secret", "token", "webhook_url")


@dataclass
class Connection:
    name: str
    crm: str
    auth_type: str
    base_url: str                         # API base; for a webhook connection a masked form (the URL is secret)
    settings: dict[str, Any] = field(default_factory=dict)      # client_id, token_url, redirect_uri, account, ...
    credentials: dict[str, Any] = field(default_factory=dict, repr=False)
    token_expires_at: float | None = None
    generation: int = 0                   # +1 at every saved refresh: tells a waiting process someone refreshed
    refresh_started_at: float | None = None  # set while a refresh is in flight; left behind by a crash
    status: str = OK
    status_detail: str | None = None
    last_ok_at: float | None = None
    last_error_at: float | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    key_id: str | None = None             # the vault key that sealed the credentials

    def expires_in(self, now: float | None = None) -> float | None:
        if self.token_expires_at is None:
            return None
        return self.token_expires_at - (time.time() if now is None else now)

    def public(self) -> dict[str, Any]:
        """Everything ``connections show`` may print: no secret, only whether each one is present."""
        return {
            "name": self.name, "crm": self.crm, "auth": self.auth_type, "base_url": self.base_url,
            "status": STATUS_LABELS.get(self.status, self.status), "status_detail": self.status_detail,
            "settings": dict(self.settings),
            "credentials": f"encrypted (key id {self.key_id})",
            "token_expires_at": _iso(self.token_expires_at), "last_ok_at": _iso(self.last_ok_at),
            "last_error_at": _iso(self.last_error_at), "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at), "refreshes_saved": self.generation,
        }


def reconnect_command(crm: str, name: str, auth_type: str, project_flag: str = "") -> str:
    """The exact command that re-authorises a connection (stored settings are reused by --replace)."""
    tail = {OAUTH2: "", LONG_LIVED_TOKEN: " --long-lived-token NEW_TOKEN",
            WEBHOOK_URL: " --webhook-url NEW_WEBHOOK_URL"}.get(auth_type, "")
    return f"crmsync connect {crm} --name {name} --replace{tail}{project_flag}"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
