"""A store nobody has written to since a run found nothing to push: the next plan reads nothing.

Finding what to push costs two grouped scans per entity (crmsync.push.candidates), O(store): about
a second of CPU for a million contacts. A scheduled run with nothing to do should not pay it, but a
user's SQL edit never passes through Python, so "nothing changed" cannot be told by crmsync's own
bookkeeping, and DuckDB keeps no change counter a query could read. The store's *file* does: DuckDB
lets one process write a file at a time, and every committed write reaches the database file or its
write-ahead log (``.wal``) before the writer lets go of it. A file's change time (``st_ctime``)
cannot be set by any program, only moved forward by the kernel on each write.

So a ``crmsync sync`` that holds the store from before its plans to its end (crmsync.store.hold: no
other process can write meanwhile) and whose plans found nothing to do for any row *seals* it, at its
very end, still holding it: ``CHECKPOINT`` (the log is folded into the file), then the stamp of both files
(inode, size, modification and change times), then a wait until the clock has moved past that
change time (file times advance in coarse ticks, so a write right after we let go still gets a later
one), then the stamp and the plans' keys go to ``.crmsync/cache/quiet-store.json``. The next run
compares the stamp once it holds the store: any write since — a user's ``UPDATE`` (whatever it does
to ``updated_at``), a ``crmsync conflicts resolve``, another pipeline's run, a restored backup, a
DuckDB that compacted the file — changes it, and the run plans as before, by the buckets' states.

The seal is only trusted by a plan when the run held the store from its start (before anything wrote
to it) and, in this run before the plan, nothing changed canonical rows or links either: the pull read
nothing (dlt never started, so the hold was never let go), found no deletions and applied nothing, and
the push had no write of an earlier run to settle. It covers a
plan only for the same key (push and pull-only fields, write mode, canonical columns, delete mode,
crmsync's candidates version). Anything else — a broken hold, a plan with work or a report (create,
update, rejection, held field, pull-only edit), a dry run — writes no seal, and the next run scans.
The seal is a cache: deleting the file costs one scan.

Trade-off: this trusts the file system to move ``st_ctime`` on every write, as local file systems
do. A store on a file system that does not (some network mounts) should set
``CRMSYNC_QUIET_STORE=off``; the plans then always scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

FILE = "quiet-store.json"
SWITCH = "CRMSYNC_QUIET_STORE"  # "off": never seal, never trust a seal
TICK_NS = 20_000_000  # longer than a file-time tick on any kernel we know (1-10 ms)


def stamp(path: Path) -> list[Any]:
    """What changes whenever the store's files are written: inode, size, mtime and ctime of the file
    and of its write-ahead log (None when there is none)."""
    out: list[Any] = []
    for name in (path, Path(f"{path}.wal")):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            out.append(None)
        else:
            out.append([st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return out


@dataclass
class Quiet:
    """One run's view of the seal of the store at ``path`` (see the module docstring)."""

    path: Path
    file: Path
    known: dict[str, str] = field(default_factory=dict)  # connection/entity → key, valid if untouched
    untouched: bool = False  # the store is as the last sealing run left it
    trusted: bool = False  # set by the run: nothing it did before planning changed canonical rows or links
    clean: dict[str, str] = field(default_factory=dict)  # this run's plans that found nothing to do
    spoiled: bool = False  # a plan had work or something to report: no seal

    @classmethod
    def begin(cls, state_dir: Path, path: Path) -> Quiet:
        """Call once the store is held, before anything writes to it."""
        quiet = cls(path, state_dir / "cache" / FILE)
        if os.environ.get(SWITCH, "").lower() in ("off", "0", "false", "no"):
            quiet.spoiled = True
            return quiet
        entry = _read(quiet.file).get(str(path.resolve()))
        if isinstance(entry, dict) and entry.get("stamp") == stamp(path) and isinstance(entry.get("plans"), dict):
            quiet.untouched = True
            quiet.known = {k: v for k, v in entry["plans"].items() if isinstance(v, str)}
        return quiet

    def trusts(self, connection: str, entity: str, key: str) -> bool:
        return self.trusted and self.untouched and self.known.get(f"{connection}/{entity}") == _digest(key)

    def note(self, connection: str, entity: str, key: str, clean: bool) -> None:
        if clean:
            self.clean[f"{connection}/{entity}"] = _digest(key)
        else:
            self.spoiled = True

    def seal(self, con: Any, whole: bool) -> None:
        """At the run's very end, on the held connection (``whole``: held since :meth:`begin`). Plans
        of other connections stay sealed only if this run changed nothing they depend on."""
        entries = _read(self.file)
        key = str(self.path.resolve())
        had = entries.pop(key, None) is not None
        if whole and not self.spoiled and self.clean:
            try:
                con.execute("CHECKPOINT")  # the log folded into the file: closing it then writes nothing
            except duckdb.Error:  # e.g. a transaction still open elsewhere in this process: no seal
                pass
            else:
                now = stamp(self.path)
                changed = max(s[3] for s in now if s is not None)
                wait = (changed + TICK_NS - time.time_ns()) / 1e9
                if wait > 0:
                    time.sleep(wait)
                kept = self.known if (self.trusted and self.untouched) else {}
                entries[key] = {"stamp": now, "plans": {**kept, **self.clean}}
        if had or key in entries:
            with contextlib.suppress(OSError):  # no seal written: the next run scans, nothing else
                _write(self.file, entries)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _read(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(file: Path, entries: dict[str, Any]) -> None:
    """Whole or not at all: a half-written file would read as no seal, which is safe, but a reader
    must never see a stamp without its plans."""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f"{file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entries, sort_keys=True), encoding="utf-8")
    os.replace(tmp, file)
