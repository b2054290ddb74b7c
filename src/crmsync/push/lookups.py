"""The mapper a push writes and reads back with, built on only the CRM metadata its writes use.

At the CRM's rate limit every metadata request costs a slot (AmoCRM: 7 a second; 5,000 updates are
40 writes and read-backs, so two more requests can cost a whole window). A push fetches the catalog
parts (:data:`crmsync.mapping.catalog.PARTS`) that the fields it is about to *write* look things up
in: an edit of names needs none, an edit of phones the custom fields, of the owner the users, a new
record everything its read-back maps. They are fetched in this run, never reused from an earlier
one, so no value is written against an id the CRM may have dropped or given another meaning since.

The read-back maps the written records as a pull does, to agree on a new base. A field this push did
not write and whose lookups it did not fetch (a contact's company; its owner when only names
changed) cannot be mapped: the new base keeps the value last agreed for it (absent stays absent).
Nothing is lost: the write moved the record's ``updated_at``, so the next pull reads it again with
the whole catalog, and a value the CRM changed meanwhile is then a change on the CRM's side, merged
against that base like any other. A record with no agreed value to keep (one this run created)
makes the push fetch what its read-back needs instead.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from crmsync.canonical.values import put_field
from crmsync.mapping.catalog import catalog_needs, field_needs


class PushMapper:
    """A :class:`crmsync.mapping.Mapper` for one entity of one push, built on first use from the
    catalog parts the push's writes need (:meth:`writing`), widened when more is needed.

    ``held``: parts the run holds already (a ``crmsync sync``'s pull fetched them seconds before):
    the mapper uses them too, so its read-back maps every field it can.

    ``make(spec, parts)``: fetches the metadata providing ``parts`` (each request once per run) and
    returns a Mapper of ``spec`` (the mapping's fields those parts resolve) on it.

    :meth:`prefetch` builds it on a thread of its own as soon as the planning finds a first row to
    write, so the metadata requests leave while the rest of the rows are compared: at the rate limit
    each request holds a slot of the CRM's window for a second, and slots taken during the planning
    are free again by the time the writes need them.
    """

    def __init__(self, spec: Any, make: Callable[[Any, frozenset[str]], Any],
                 held: frozenset[str] = frozenset()) -> None:
        self.spec, self._make = spec, make
        self._held = held  # parts this run has already (a sync's pull fetched them): used, costing no request
        self._wanted = catalog_needs(spec, direction="push") | held  # until the plan says what it writes
        self._real: Any = None
        self._parts: frozenset[str] = frozenset()
        self.unresolved: tuple[Any, ...] = ()  # pulled fields the current mapper cannot map
        self._thread: threading.Thread | None = None
        self._built: tuple[Any, frozenset[str]] | None = None
        self._failed: BaseException | None = None
        self._covered: set[frozenset[str] | None] = set()  # field sets push() made sure of

    # what is needed ------------------------------------------------------------------------------
    def writing(self, fields: Iterable[str], creates: bool) -> None:
        """This push writes ``fields`` (and creates records when ``creates``): its mapper needs the
        parts those use, and for a new record every part its read-back maps."""
        self._wanted = self._held | catalog_needs(self.spec, fields=fields) | (
            catalog_needs(self.spec) if creates else frozenset())

    def need_fields(self, fields: Iterable[str]) -> None:
        """Widen the mapper to map ``fields`` too (ops an earlier run left, checked against the CRM)."""
        self._widen(catalog_needs(self.spec, fields=fields))

    def prefetch(self, fields: Iterable[str] = (), creates: bool = True) -> None:
        if self._real is None and self._thread is None:
            self.writing(fields, creates)
            wanted = self._wanted
            self._thread = threading.Thread(target=self._build_quietly, args=(wanted,), name="crmsync-metadata",
                                            daemon=True)
            self._thread.start()

    def _build_quietly(self, parts: frozenset[str]) -> None:
        try:
            self._built = (self._build(parts), parts)
        except BaseException as exc:  # raised where the mapper is first used, as without the prefetch
            self._failed = exc

    def _build(self, parts: frozenset[str]) -> Any:
        fields = tuple(f for f in self.spec.fields if field_needs(f) <= parts)
        return self._make(dataclasses.replace(self.spec, fields=fields), parts)

    def settle(self, interrupted: bool = False) -> None:
        """Wait for a prefetch still under way: a run ends with no request of its own in flight. Not
        when the run was interrupted (Ctrl-C): a CRM that does not answer must not hold that up; the
        thread is a daemon and only reads."""
        if self._thread is not None and not interrupted:
            self._thread.join()

    def _widen(self, parts: frozenset[str]) -> None:
        self._wanted = self._wanted | parts
        if self._real is not None and not self._wanted <= self._parts:
            self._use(self._build(self._parts | self._wanted), self._parts | self._wanted)

    def _use(self, mapper: Any, parts: frozenset[str]) -> None:
        self._real, self._parts = mapper, parts
        self.unresolved = tuple(f for f in self.spec.fields if f.pulls and not field_needs(f) <= parts)

    def _get(self) -> Any:
        if self._real is None:
            self.settle()
            if self._failed is not None:
                failed, self._failed, self._thread = self._failed, None, None
                raise failed
            if self._built is not None:
                self._use(*self._built)
                self._built = None
            else:
                self._use(self._build(self._wanted), self._wanted)
        if not self._wanted <= self._parts:
            self._widen(frozenset())
        return self._real

    # mapping -------------------------------------------------------------------------------------
    def push(self, canonical: dict[str, Any], fields: Sequence[str] | None = None, **kw: Any) -> dict[str, Any]:
        """:meth:`Mapper.push`, on a mapper that maps every one of ``fields`` (a field it lacked would
        be left out of the payload, not refused)."""
        key = None if fields is None else frozenset(fields)
        if key not in self._covered:
            self._widen(catalog_needs(self.spec, direction="push", fields=key))
            self._covered.add(key)
        return self._get().push(canonical, fields, **kw)

    def read_back(self, raws: Sequence[dict[str, Any]], bases: Sequence[dict[str, Any] | None]) -> list[Any]:
        """The written records mapped as a pull maps them (``bases``: each record's base before the
        write); a field the mapper cannot map keeps its base's value. A record without a base makes
        the mapper fetch what maps every field first."""
        from crmsync.mapping import Rejection

        mapper = self._get()
        if self.unresolved and any(not base for base in bases):
            self._widen(frozenset().union(*(field_needs(f) for f in self.unresolved)))
            mapper = self._real
        results = mapper.pull_batch(raws)
        for result, base in zip(results, bases, strict=True):
            if self.unresolved and not isinstance(result, Rejection):
                _keep(result.canonical, base or {}, self.unresolved)
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def _keep(record: dict[str, Any], base: dict[str, Any], fields: Iterable[Any]) -> None:
    """``record`` takes ``base``'s value of each of ``fields``; one the base does not hold stays out."""
    custom = base.get("custom") if isinstance(base.get("custom"), dict) else {}
    for f in fields:
        name = f.name
        if name.startswith("custom."):
            if name[7:] in custom:
                put_field(record, name, custom[name[7:]])
        elif name in base:
            record[name] = base[name]
