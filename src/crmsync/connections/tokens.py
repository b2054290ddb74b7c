"""The token lifecycle: refresh ahead of expiry or after a 401, one refresh at a time, saved before use.

Single-flight: a refresh holds a thread lock (threads of this process) and the connection's refresh lock
(other processes: ``.crmsync/locks/connection-<name>.lock``, or, when the project's connections live in a
Postgres store, an advisory lock on that database, which workers on other machines see too; crmsync.locks).
Having the locks, it re-reads the row:
if another thread or process refreshed meanwhile, their pair is used and the CRM is not called.

Crash safety: before calling the token endpoint the row is marked ``refresh_started_at``; the new
pair is committed to the store before it is returned to anyone. A process killed between the CRM
issuing a pair and our commit leaves the old pair and the mark behind. The next refresh then
follows the CRM's rule for the old refresh token (``old_refresh_token`` in the connector spec):

* ``grace`` (AmoCRM): the old refresh token still works until the new one is used, so the next
  refresh simply succeeds. After a refresh the previous token is kept as ``previous_refresh_token``
  and tried once if the current one is rejected.
* ``invalidate`` (Bitrix24): the old pair is dead, so the connection is marked ``needs_reauth`` with
  the exact command that fixes it. A connection in that state fails fast without calling the CRM:
  never a 401 loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from crmsync import locks
from crmsync.errors import CrmError
from crmsync.project import Project
from crmsync.secrets.vault import Vault, vault_for
from crmsync.store import home_store

from . import binding, repository
from .grants import Grant, GrantRejected, request_tokens
from .model import FAILING, NEEDS_REAUTH, Connection, reconnect_command
from .spec import OAUTH2, ConnectorAuth, load_connector_auth

log = logging.getLogger(__name__)
AHEAD_SECONDS = 60.0       # refresh when the access token has less than this left
LOCK_TIMEOUT = 120.0

_thread_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


class NeedsReauthorisation(CrmError):
    """The connection cannot get a working token without a person: the message carries the fix."""


def _thread_lock(key: str) -> threading.Lock:
    with _guard:
        return _thread_locks.setdefault(key, threading.Lock())


class TokenManager:
    """Hands out a working credential for one connection; thread-safe; safe across processes."""

    def __init__(self, project: Project, name: str, *, vault: Vault | None = None,
                 connector: ConnectorAuth | None = None, clock: Callable[[], float] = time.time,
                 ahead_seconds: float = AHEAD_SECONDS, lock_dsn: str | None = None) -> None:
        self.project = project
        # The refresh lock lives where the tokens do: an advisory lock when that is a Postgres store.
        self.lock_dsn = lock_dsn if lock_dsn is not None else locks.store_dsn(project, home_store(project))
        self.name = name
        self.vault = vault or vault_for(project.state_dir)
        self._conn = repository.get(project, name, self.vault)
        self.connector = connector or load_connector_auth(project, self._conn.crm)
        self.clock = clock
        self.ahead_seconds = ahead_seconds
        self.refreshes = 0  # refreshes this manager made itself (not ones it found done by others)

    @property
    def connection(self) -> Connection:
        return self._conn

    def fix_command(self) -> str:
        return reconnect_command(self._conn.crm, self.name, self._conn.auth_type, _project_flag(self.project))

    def credential(self) -> str:
        """The secret to send now: an access token (refreshed first if it is about to expire), a
        long-lived token, or the webhook URL."""
        conn = self._conn
        if conn.status == NEEDS_REAUTH:
            raise self._needs_reauth(conn.status_detail or "it was marked as needing re-authorisation")
        if conn.auth_type != OAUTH2:
            return conn.credentials["token" if "token" in conn.credentials else "webhook_url"]
        left = conn.expires_in(self.clock())
        if left is not None and left < self.ahead_seconds:
            self.refresh(stale=conn.credentials["access_token"])
        return self._conn.credentials["access_token"]

    def refresh(self, stale: str | None = None) -> Connection:
        """Get a new access token unless someone already replaced ``stale`` (the one that failed)."""
        if self._conn.auth_type != OAUTH2:
            detail = f"{self.connector.title} rejected the {_label(self._conn.auth_type)}"
            repository.set_status(self.project, self.name, FAILING, detail)
            raise CrmError(f"connection '{self.name}': {detail} (it was revoked, expired or mistyped). "
                           f"Fix: {self.fix_command()}")
        stale = stale if stale is not None else self._conn.credentials.get("access_token")
        lock = locks.mutex(self.project, f"connection-{self.name}", self.lock_dsn)
        with _thread_lock(lock.where):
            if not lock.acquire(LOCK_TIMEOUT):
                raise CrmError(f"connection '{self.name}': another crmsync process has held the token refresh "
                               f"lock for {LOCK_TIMEOUT:.0f} s ({lock.where}); run again later", transient=True)
            try:
                fresh = repository.get(self.project, self.name, self.vault)
                self._conn = fresh
                if fresh.status == NEEDS_REAUTH:
                    raise self._needs_reauth(fresh.status_detail or "it needs re-authorisation")
                left = fresh.expires_in(self.clock())
                if fresh.credentials.get("access_token") != stale and (left is None or left >= self.ahead_seconds):
                    log.info("connection %s: another process refreshed the token; using theirs", self.name)
                    return fresh
                return self._refresh_locked(fresh)
            finally:
                lock.release()

    def _refresh_locked(self, conn: Connection) -> Connection:
        auth = self.connector.auth(OAUTH2)
        interrupted = conn.refresh_started_at
        repository.mark_refresh_started(self.project, self.name, time.time())
        log.info("connection %s: refreshing the access token", self.name)
        try:
            grant = self._grant(conn, conn.credentials.get("refresh_token"))
        except GrantRejected as exc:
            previous = conn.credentials.get("previous_refresh_token")
            if exc.part == "grant" and auth.old_refresh_token == "grace" and previous:
                log.info("connection %s: refresh token rejected; trying the previous one (grace rule)", self.name)
                try:
                    grant = self._grant(conn, previous)
                except GrantRejected as again:
                    raise self._reject(conn, again, interrupted) from None
            else:
                raise self._reject(conn, exc, interrupted) from None
        self._check_account(conn, grant)
        old_refresh = conn.credentials.get("refresh_token")
        conn.credentials.update(access_token=grant.access_token,
                                refresh_token=grant.refresh_token or old_refresh,
                                previous_refresh_token=old_refresh if auth.old_refresh_token == "grace" else None)
        conn.token_expires_at = grant.expires_at
        repository.save_tokens(self.project, self.vault, conn)  # committed before anyone uses the new token
        self.refreshes += 1
        log.info("connection %s: new token pair saved (generation %d)", self.name, conn.generation)
        return conn

    def _check_account(self, conn: Connection, grant: Grant) -> None:
        """A grant that names another account (Bitrix24's member_id) is not saved nor used: the run stops."""
        bound = conn.settings.get(binding.IDENTITY_KEY) or {}
        seen = binding.observe(binding.identity_parts(self.connector.raw), grant=grant.extra)
        if binding.differences(bound, seen):
            error = binding.account_changed(conn, self.connector.title, bound, seen, self.fix_command())
            detail = (f"a token refresh answered for the account {binding.describe(seen)}, not the bound "
                      f"{binding.describe(bound)}; nothing was written with it")
            repository.set_status(self.project, self.name, NEEDS_REAUTH, detail)
            self._conn.status, self._conn.status_detail = NEEDS_REAUTH, detail
            raise error

    def _grant(self, conn: Connection, refresh_token: str | None) -> Grant:
        settings = conn.settings
        grant = {"client_id": settings.get("client_id", ""), "client_secret": conn.credentials.get("client_secret", ""),
                 "grant_type": "refresh_token", "refresh_token": refresh_token or ""}
        if settings.get("redirect_uri") and self.connector.auth(OAUTH2).token_request != "query":
            grant["redirect_uri"] = settings["redirect_uri"]
        return request_tokens(self.connector.auth(OAUTH2), settings["token_url"], grant, title=self.connector.title,
                              words=self.connector.token_error_body)

    def _reject(self, conn: Connection, exc: GrantRejected, interrupted: float | None) -> NeedsReauthorisation:
        what = "its OAuth client (id or secret)" if exc.part == "client" else "its refresh token"
        detail = f"{self.connector.title} rejected {what}: {exc.crm_words}"
        if interrupted is not None and exc.part == "grant":
            rule = self.connector.auth(OAUTH2).old_refresh_token
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(interrupted))
            detail += (f". A token refresh started at {when} did not finish saving its result" +
                       (f" and {self.connector.title} retires the old refresh token at once" if rule == "invalidate"
                        else ""))
        repository.set_status(self.project, self.name, NEEDS_REAUTH, detail)
        self._conn.status, self._conn.status_detail = NEEDS_REAUTH, detail
        return self._needs_reauth(detail)

    def _needs_reauth(self, detail: str) -> NeedsReauthorisation:
        return NeedsReauthorisation(f"connection '{self.name}' needs re-authorisation: {detail}. "
                                    f"Fix: {self.fix_command()}")


def _label(auth_type: str) -> str:
    return {"long_lived_token": "long-lived token", "webhook_url": "webhook URL"}.get(auth_type, auth_type)


def _project_flag(project: Project) -> str:
    try:
        return "" if Path.cwd().resolve() == project.root else f" --project-dir {project.root}"
    except OSError:
        return f" --project-dir {project.root}"
