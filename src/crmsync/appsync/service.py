"""The app sync API's state inside ``crmsync serve``: settings, the JWT verifier, the app schema, and per
tenant a project folder, a runner (its own child runs and store lock) and the pull / push operations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from crmsync.canonical.conflicts import ConflictRules
from crmsync.errors import BusyError, UserError
from crmsync.project import Project
from crmsync.serve.jobs import Runner

from . import changefeed
from .outgoing import PushResult, apply_push, check_shape
from .schema import AppSchema
from .settings import AppSyncSettings, load
from .tenants import Tenant, Tenants
from .tokens import Claims, Verifier

PATIENT = 300.0  # seconds a request waits for a run of its tenant to leave the store


class TenantRunner(Runner):
    """A tenant's runner: before its child run takes the tenant's store, the API's open connection to it
    is closed (the child is another process, and DuckDB has one writer per file)."""

    def __init__(self, project: Project, *, on_finish: list[Callable[[Any], None]],
                 before_child: Callable[[], None]) -> None:
        super().__init__(project, on_finish=on_finish)
        self.before_child = before_child

    def _run_child(self, job: Any, args: list[str]) -> None:
        self.before_child()   # the runner holds store_lock here: no request is using the connection
        super()._run_child(job, args)


@dataclass
class TenantState:
    tenant: Tenant
    runner: Any = None                   # its TenantRunner
    ensured: bool = False
    con: Any = None                      # the store's connection, kept open while requests keep coming
    stack: ExitStack | None = None
    used: float = 0.0
    # Whether any canonical row may have changed since the last change scan. While the API keeps the store
    # open no other process can write it (DuckDB's file lock): only a reopen makes it dirty, and a push
    # adds the ids it wrote to ``pushed`` (scanned alone by the next pull).
    dirty: bool = True
    pushed: dict[str, set[str]] = field(default_factory=dict)

    def close(self) -> None:
        """Close the kept connection (the caller holds the runner's store_lock, or no one can use it)."""
        stack, self.stack, self.con = self.stack, None, None
        self.dirty = True  # whoever gets the file next may change anything
        if stack is not None:
            stack.close()


@dataclass
class AppSync:
    project: Project
    pipelines: dict[str, Any]
    settings: AppSyncSettings
    app_schema: AppSchema | None = None
    canonical: dict[str, dict[str, Any]] = field(default_factory=dict)
    verifier: Verifier | None = None
    tenants: Tenants | None = None
    unavailable: str | None = None       # why the app routes answer 404 (not configured)
    on_finish: list[Callable[[Any], None]] = field(default_factory=list)
    _tenants: dict[str, TenantState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _janitor: threading.Thread | None = None

    @classmethod
    def start(cls, project: Project, pipelines: dict[str, Any], on_finish: list[Callable[[Any], None]]) -> AppSync:
        from crmsync.mapping.canonical import load_canonical
        from crmsync.store import postgres_env, store_name

        settings = load(project)
        sync = cls(project, pipelines, settings, on_finish=on_finish)
        if not settings.enabled:
            sync.unavailable = ("the app sync API is not configured: add an [app_sync] section to config/config.toml "
                                "(docs/app-sync.md)")
            return sync
        for p in pipelines.values():
            store = store_name(p)
            if postgres_env(store) is not None:  # one database for every tenant would mix their records
                raise UserError(f"pipeline {p.name}: staging type postgres is not supported by the app sync API yet "
                                "(it keeps one store per tenant); use a duckdb staging path for its pipelines")
            if Path(store).expanduser().is_absolute():
                raise UserError(f"pipeline {p.name}: staging path {store} is absolute, so every tenant would share it; "
                                "the app sync API needs stores relative to the project (one per tenant)")
        sync.canonical = load_canonical(project.root)
        sync.app_schema = AppSchema(sync.canonical)
        sync.verifier = Verifier(settings.jwt, project.root)
        sync.tenants = Tenants(project)
        return sync

    # -- tenants ----------------------------------------------------------------------------------------
    def authenticate(self, token: str) -> Claims:
        assert self.verifier is not None
        return self.verifier.verify(token)

    def state(self, tenant_id: str) -> TenantState:
        assert self.tenants is not None
        with self._lock:
            state = self._tenants.get(tenant_id)
            if state is None:
                state = TenantState(self.tenants.get(tenant_id))
                state.runner = TenantRunner(state.tenant.project, on_finish=list(self.on_finish),
                                            before_child=state.close)
                self._tenants[tenant_id] = state
            return state

    def every_tenant(self) -> list[TenantState]:
        if self.tenants is None:
            return []
        return [self.state(t.id) for t in self.tenants.known()]

    def rules(self) -> dict[str, ConflictRules]:
        """The conflict policy app pushes follow: ``conflicts_from``'s pipeline, else the first pipeline's."""
        chosen = None
        if self.settings.conflicts_from:
            chosen = self.pipelines.get(self.settings.conflicts_from)
            if chosen is None:
                raise UserError(f"[app_sync] conflicts_from = {self.settings.conflicts_from!r} is no pipeline; "
                                f"known: {', '.join(sorted(self.pipelines))}")
        elif self.pipelines:
            chosen = self.pipelines[sorted(self.pipelines)[0]]
        conflicts = getattr(chosen, "conflicts", None)
        return {e: ConflictRules.of(conflicts, e) for e in self.canonical}

    def fan_out(self, pipeline: Any, trigger: str) -> None:
        """The scheduler's slot for ``pipeline``, run for every tenant that has its connection (each tenant's
        runner: one run per connection, skipped while its previous run goes on)."""
        for state in self.every_tenant():
            if any(p.name == pipeline.name for p in self.tenant_pipelines(state)):
                state.runner.submit(pipeline, trigger=trigger)

    def runs_here(self, runner: Any) -> Callable[[Any], bool] | None:
        """With app sync on, the project's own store runs a pipeline only if it has the connection (tenants
        usually hold every connection, and a run without one only fails); without app sync, always."""
        if self.unavailable:
            return None

        def has(pipeline: Any) -> bool:
            return any(p.name == pipeline.name for p in self._pipelines_with_connection(self.project, runner))

        return has

    def stop(self, grace: float) -> None:
        self._stop.set()
        with self._lock:
            states = list(self._tenants.values())
        for state in states:
            state.runner.stop(grace)
            with state.runner.store_lock:
                state.close()

    # -- the store ----------------------------------------------------------------------------------------
    @contextmanager
    def store(self, state: TenantState) -> Iterator[Any]:
        """The tenant's store, between its runs, in one transaction (committed on success)."""
        import duckdb

        from crmsync.canonical.tables import ensure
        from crmsync.store import open_store

        lock = state.runner.store_lock
        if not lock.acquire(timeout=PATIENT):
            raise BusyError(f"a run has been writing this account's store for over {PATIENT:.0f} s; try again later")
        try:
            if state.con is None:
                stack = ExitStack()
                con = stack.enter_context(open_store(state.tenant.project.store_path(self.settings.store)))
                state.con, state.stack = con, stack
                self._start_janitor()
            con = state.con
            if not state.ensured:
                ensure(con, self.canonical)
                changefeed.ensure(con)
                state.ensured = True
            con.begin()
            try:
                yield con
                con.commit()
            except BaseException:
                state.dirty, state.pushed = True, {}  # a scan rolled back is a scan not made
                with suppress(Exception):
                    con.rollback()
                raise
            finally:
                state.used = time.monotonic()
                if self.settings.keep_open_seconds <= 0:
                    state.close()
        except duckdb.Error:
            state.close()  # a connection in doubt is not kept
            raise
        finally:
            lock.release()

    def _start_janitor(self) -> None:
        with self._lock:
            if self._janitor is None:
                self._janitor = threading.Thread(target=self._close_idle, name="app-sync-janitor", daemon=True)
                self._janitor.start()

    def _close_idle(self) -> None:
        """Close a tenant's store once no request has used it for ``keep_open_seconds``, so the CLI and
        SQL clients get it between bursts of app traffic (a run of the tenant closes it at once)."""
        while not self._stop.wait(0.25):
            with self._lock:
                states = list(self._tenants.values())
            for state in states:
                if state.con is None or time.monotonic() - state.used < self.settings.keep_open_seconds:
                    continue
                if state.runner.store_lock.acquire(timeout=0):
                    try:
                        if state.con is not None and time.monotonic() - state.used >= self.settings.keep_open_seconds:
                            state.close()
                    finally:
                        state.runner.store_lock.release()

    def pull(self, state: TenantState, since: int | None, full_tables: set[str]) -> IO[bytes]:
        assert self.app_schema is not None
        out = changefeed.spool()
        try:
            with self.store(state) as con:
                if state.dirty or state.pushed:
                    upto = changefeed.observe(con, self.app_schema, self.canonical,
                                              None if state.dirty else state.pushed)
                else:
                    upto = changefeed.current_seq(con)
                state.dirty, state.pushed = False, {}
                changefeed.write_changes(con, self.app_schema, out, since=since, upto=upto, full_tables=full_tables)
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out

    def push(self, state: TenantState, changes: Any, pulled: int | None) -> PushResult:
        assert self.app_schema is not None
        checked = check_shape(changes, self.app_schema)
        rules = self.rules()
        with self.store(state) as con:
            if state.dirty or state.pushed:  # the versions clients may have pulled, as they are now
                changefeed.observe(con, self.app_schema, self.canonical, None if state.dirty else state.pushed)
                state.dirty, state.pushed = False, {}
            result = apply_push(con, self.app_schema, self.canonical, checked, pulled=pulled, rules=rules, scan=False)
            for entity, ids in result.touched.items():
                state.pushed.setdefault(entity, set()).update(ids)
            return result

    def tenant_pipelines(self, state: TenantState) -> list[Any]:
        """The pipelines whose connection this tenant has (the template each of its runs follows)."""
        return self._pipelines_with_connection(state.tenant.project, state.runner)

    def _pipelines_with_connection(self, project: Project, runner: Any) -> list[Any]:
        from crmsync.connections import repository

        lock = runner.store_lock
        if not project.store_path().exists() or not lock.acquire(timeout=5):
            return []  # no store yet (so no connection), or a run holds it: the next slot
        try:
            names = {c.name for c in repository.list_all(project)}
        except UserError:
            return []
        finally:
            lock.release()
        return [p for _, p in sorted(self.pipelines.items()) if p.connection in names]

