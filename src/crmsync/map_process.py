"""Mapping on the second core: a run's raw rows mapped in a process of its own (issue 18).

The apply of a chunk (the store's reads and writes, the merge, history) and the mapping of the next
chunk are both Python, and one process runs one of them at a time (the GIL). With a second core, the
pull's or remap's process reads a chunk's raw rows from the store, hands them to a mapping process,
and applies the chunk before while that process maps: one chunk being mapped, one waiting, so the
mapping process is never idle and memory stays bounded by a few chunks.

The mapping process builds the same :class:`crmsync.mapping.Mapper` from the same mapping, catalog and
canonical schema, and maps with the same code (:func:`map_rows`): its results are the in-process
ones, record for record (``tests/integration/test_map_process.py`` holds the two equal). Only a mapping
whose every pull transform is :attr:`~crmsync.mapping.Transform.portable` goes there: the links need
the engine's resolver, which mints canonical ids in the store, and a plugin's transform maps in the
engine's process unless it says otherwise.

``CRMSYNC_MAP_PROCESS``: ``auto`` (the default: when the machine has a second core and an entity has
more than :data:`AUTO_ROWS` rows to map; runs at once in one process, as ``crmsync serve`` runs them, share
one process a core between them), ``on`` (whenever a mapping can) or ``off``.

If the mapping process ends unexpectedly, the chunks it held are mapped here and the run goes on in
this process (a warning says so): a mapping never differs by where it ran. It ignores Ctrl-C (the
run's own process decides when to stop) and ends when its pipe closes, so it never outlives the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SETTING = "CRMSYNC_MAP_PROCESS"
CHOICES = ("auto", "on", "off")
AUTO_ROWS = 10_000  # below this, starting a process (~0.3 s of the other core) costs about what it saves
AHEAD = 2  # chunks a mapping process holds at once: one being mapped, one waiting
MAX_PROCESSES = 4  # each holds its own imports and chunks (~50 MB)

# One mapped record: (remote id, canonical record or None, the rejection as a dict or None, raw record). From a
# mapping process the raw record comes only with a rejection (the apply keeps it only then), and a mapped one
# with its base hash and JSON text after these (crmsync.canonical.digest).
Mapped = tuple[Any, ...]
# A chunk's raw values: a list of rows (a value a key of the shape), or an Arrow table of them (a column a key)
Values = Any


def is_arrow(values: Values) -> bool:
    """Whether ``values`` is an Arrow table (a DuckDB store's page) rather than a list of rows."""
    return hasattr(values, "column_names")


@dataclass(frozen=True)
class RawShape:
    """How the values of a raw table's rows, as the store hands them over, become the records a mapping
    reads: ``keys`` name the values; ``parsed`` are JSON text (parsed here); ``variants`` are dlt's
    columns beside a column of another type (:func:`crmsync.read.storable.fold_variants`); ``key`` is
    the record's id (its remote id)."""

    keys: tuple[str, ...]
    parsed: tuple[str, ...]
    variants: tuple[tuple[str, str], ...]
    key: str

    def records(self, values: Any) -> Iterator[dict[str, Any]]:
        """The records of ``values``: rows of values, or an Arrow table of them (a column a key)."""
        from crmsync.jsontext import loads
        from crmsync.read.storable import fold_variants

        keys, parsed, variants = self.keys, self.parsed, list(self.variants)
        if is_arrow(values):  # the values DuckDB's rows would have held, a column at a time
            values = zip(*(column.to_pylist() for column in values.columns), strict=True)
        # a row at a time: parsing a whole page's JSON first left thousands of containers alive at once
        for row_values in values:
            row = dict(zip(keys, row_values, strict=True))
            for name in parsed:
                if (value := row[name]) is not None:
                    row[name] = loads(value)
            yield fold_variants(row, variants) if variants else row


def map_rows(mapper: Any, key: str, raws: list[dict[str, Any]], *, there: bool = False) -> list[Mapped]:
    """Each raw record of a chunk with its result (:meth:`crmsync.mapping.Mapper.pull_batch`). ``there``
    (in a mapping process): a mapped record comes without its raw record and with its base hash and JSON
    text (:func:`crmsync.canonical.digest.prepared`), which the apply would make in the run's process."""
    from crmsync.canonical.digest import prepared
    from crmsync.mapping import Rejection

    out: list[Mapped] = []
    for raw, result in zip(raws, mapper.pull_batch(raws), strict=True):
        remote_id = str(raw.get(key))
        if isinstance(result, Rejection):
            out.append((remote_id, None, result.as_dict(), raw))
        elif there:
            out.append(prepared(remote_id, result.canonical))
        else:
            out.append((remote_id, result.canonical, None, raw))
    return out


def portable(mapper: Any) -> bool:
    """Whether ``mapper``'s pull can run in another process: every transform says so, and the custom
    field layout is crmsync's own."""
    layout = type(mapper.layout)
    return layout.__module__.startswith("crmsync.") and all(
        getattr(t, "portable", False) for bound in mapper.fields if bound.spec.pulls for t in bound.chain)


def worth_it(rows: int) -> bool:
    """Whether ``CRMSYNC_MAP_PROCESS=auto`` maps ``rows`` rows in a mapping process."""
    return rows > AUTO_ROWS and _cores() >= 2


def setting() -> str:
    choice = os.environ.get(SETTING, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        from crmsync.errors import UserError

        raise UserError(f"{SETTING}={choice!r} is not one of: {', '.join(CHOICES)} (auto maps in a second "
                        "process when the machine has a second core and a run has many records)")
    return choice


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class MapProcessError(RuntimeError):
    """The mapping raised in the mapping process (a defect, as it would be in this one)."""


class _Child:
    """One mapping process: its pipes and its process."""

    def __init__(self) -> None:
        from multiprocessing.connection import Connection

        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        # this process's module path: the same crmsync, mappings' plugins and libraries, however it was started
        start = f"import sys; sys.path[:] = {sys.path!r}; from crmsync.map_process import main; main(sys.argv[1:])"
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", start, str(down_r), str(up_w)], pass_fds=(down_r, up_w),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            raise
        os.close(down_r)
        os.close(up_w)
        self.send = Connection(down_w, readable=False)
        self.recv = Connection(up_r, writable=False)
        self.mappers: dict[int, bytes] = {}  # token -> the pickled mapper message it has

    def close(self) -> None:
        for conn in (self.send, self.recv):
            with contextlib.suppress(OSError):
                conn.close()
        try:
            self.proc.wait(timeout=5)  # it ends on its pipe's end
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class MapProcess:
    """The parent's side: the run's mapping processes (one a core, :func:`processes`), started on first
    use and ended by :meth:`close`. Chunks go to them in turn and come back in the order they went."""

    def __init__(self, count: int | None = None) -> None:
        self.count = count or processes()
        self._children: list[_Child] = []
        self._sent = 0  # chunks handed over
        self._taken = 0  # and taken back
        self.failed = False  # one ended unexpectedly: the run maps here from then on
        self.why = ""  # what one said when it could not map
        self._claimed = 0  # of this process's cores (:meth:`claim`), given back by :meth:`close`

    @classmethod
    def claim(cls) -> MapProcess | None:
        """Mapping processes for a run under ``auto``: one for each core this process's other runs do not
        hold now (None: they hold every one). ``crmsync serve`` and Dagster run several pipelines at once
        in one process; each taking a process a core would have them compete for the cores (and ~80 MB
        each) instead of mapping beside their own process."""
        global _held
        with _claims:
            count = max(0, processes() - _held)
            _held += count
        if not count:
            return None
        process = cls(count)
        process._claimed = count
        return process

    @property
    def ahead(self) -> int:
        """Chunks it may hold at once: for each process one being mapped and one waiting."""
        return AHEAD * self.count

    def mapper(self, token: int, mapping: Any, catalog: Any, schema: dict[str, Any] | None, shape: RawShape) -> None:
        """Have a mapper built there; chunks name it by ``token`` (sent again only when it changed)."""
        from multiprocessing.reduction import ForkingPickler

        if not self._children:
            self._children = [_Child() for _ in range(self.count)]
        message = bytes(ForkingPickler.dumps(("mapper", token, mapping, catalog, schema, shape)))
        for child in self._children:
            if child.mappers.get(token) != message:
                child.send.send_bytes(message)
                child.mappers[token] = message

    def submit(self, token: int, values: Values) -> None:
        if is_arrow(values):  # as its own rows only: a pickled slice of a page took the whole page along
            values = _arrow_bytes(values)
        self._children[self._sent % self.count].send.send(("map", token, values))
        self._sent += 1

    def take(self) -> list[Mapped]:
        """The oldest submitted chunk's results."""
        kind, payload = self._children[self._taken % self.count].recv.recv()
        self._taken += 1
        if kind == "failed":
            raise MapProcessError(f"the mapping failed in a mapping process:\n{payload}")
        if kind == "unusable":  # it could not read what it was sent, or build the mapper
            self.why = payload.strip().splitlines()[-1]
            raise EOFError(self.why)
        return payload

    def ended(self) -> str:
        """How its processes ended, for a warning."""
        codes = [child.proc.poll() for child in self._children]
        return ", ".join(_ended(code) for code in codes if code is not None) or self.why or "a pipe closed"

    def close(self) -> None:
        global _held
        for child in self._children:
            child.close()
        self._children = []
        self._sent = self._taken = 0
        with _claims:
            _held -= self._claimed
            self._claimed = 0


_claims = threading.Lock()
_held = 0  # the cores claimed by this process's runs (MapProcess.claim)


def processes() -> int:
    """How many mapping processes a run starts: one a core, up to :data:`MAX_PROCESSES`."""
    return max(1, min(_cores(), MAX_PROCESSES))


def mapped_chunks(chunks: Iterator[Values], shape: RawShape, mapper: Any,
                  process: MapProcess | None, token: int,
                  warn: Callable[[str], None] = lambda _: None) -> Iterator[list[Mapped]]:
    """The results of each chunk of raw values, in order: mapped in ``process`` (None: here) by the same
    mapper (built there from ``mapper``'s mapping, catalog and schema), up to :attr:`MapProcess.ahead`
    chunks ahead of the one the caller is applying. Should a mapping process end, what they held and the
    rest are mapped here."""

    def here(values: Values) -> list[Mapped]:
        return map_rows(mapper, shape.key, list(shape.records(values)))

    if process is None or process.failed:
        for values in chunks:
            yield here(values)
        return
    held: deque[Values] = deque()
    done = False
    try:
        try:
            process.mapper(token, mapper.spec, mapper.catalog, mapper.check.schema if mapper.check else None, shape)
        except (EOFError, OSError) as exc:
            raise _Gone from exc
        for values in chunks:
            held.append(values)  # before it goes: should it not arrive, it is mapped here
            try:
                process.submit(token, values)
            except (EOFError, OSError) as exc:
                raise _Gone from exc
            if len(held) > process.ahead:
                yield _take(process, held)
        while held:
            yield _take(process, held)
        done = True
    except _Gone:
        process.failed = True
        warn(f"a mapping process failed ({process.ended()}); mapping goes on in this process")
        process.close()
        for values in held:
            yield here(values)
        for values in chunks:
            yield here(values)
        done = True
    finally:
        if not done and not process.failed:  # left midway (the apply failed): its answers would be stale
            process.failed = True
            process.close()


def _arrow_bytes(table: Any) -> bytes:
    """An Arrow table as Arrow's stream format (:func:`_arrow_table` reads it back)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _arrow_table(data: bytes) -> Any:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


class _Gone(Exception):
    """A mapping process's pipe closed."""


def _take(process: MapProcess, held: deque[Values]) -> list[Mapped]:
    try:
        results = process.take()
    except (EOFError, OSError) as exc:
        raise _Gone from exc
    held.popleft()
    return results


def _ended(code: int) -> str:
    if code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# the mapping process ---------------------------------------------------------------------------------


def _serve(down: Any, up: Any) -> None:
    import queue
    import threading

    from crmsync.mapping import Mapper

    inbox: queue.Queue[Any] = queue.Queue(maxsize=AHEAD + 1)
    outbox: queue.Queue[Any] = queue.Queue(maxsize=AHEAD + 1)

    def read() -> None:  # the parent's next chunk is taken while this one is mapped
        while True:
            try:
                message = down.recv()
            except (EOFError, OSError):
                inbox.put(None)
                return
            except Exception:  # a message this process cannot read (its bytes are taken: the next ones can be)
                message = ("broken", traceback.format_exc())
            inbox.put(message)

    def write() -> None:  # and a result is handed back while the next is mapped
        try:
            while (item := outbox.get()) is not None:
                up.send(item)
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone

    threading.Thread(target=read, daemon=True).start()
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    mappers: dict[int, tuple[Any, RawShape] | str] = {}  # token -> the mapper, or why it could not be built
    broken = ""
    while (message := inbox.get()) is not None:
        if message[0] == "broken":
            broken = message[1]
            continue
        if message[0] == "mapper":
            _, token, mapping, catalog, schema, shape = message
            try:
                mappers[token] = (Mapper(mapping, catalog, _NoResolver(), schema), shape)
            except Exception:  # told with the chunks that name it
                mappers[token] = traceback.format_exc()
            continue
        _, token, values = message
        if isinstance(values, bytes):
            values = _arrow_table(values)
        built = broken or mappers[token]
        if isinstance(built, str):  # not the mapping's fault: the run maps here instead
            outbox.put(("unusable", built))
            continue
        mapper, shape = built
        try:
            outbox.put(("mapped", map_rows(mapper, shape.key, list(shape.records(values)), there=True)))
        except Exception:  # a defect: the parent raises it with this trace
            outbox.put(("failed", traceback.format_exc()))
    outbox.put(None)
    writer.join()


class _NoResolver:
    """Links are never mapped here (:func:`portable`); if one were, it fails loudly, never as a rejection."""

    def to_canonical(self, kind: str, crm_id: str) -> str | None:
        raise RuntimeError(f"a link to {kind} {crm_id} reached the mapping process, which cannot resolve links")

    def to_crm(self, kind: str, canonical_id: str) -> str | None:
        raise RuntimeError("the mapping process does not push")


def main(argv: list[str]) -> None:
    import signal
    from multiprocessing.connection import Connection

    from crmsync.bulk_gc import records_in_bulk

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run's process decides when to stop
    logging.basicConfig(level=logging.WARNING)
    with records_in_bulk():  # as in the run's process: the cyclic collector would walk every record held
        _serve(Connection(int(argv[0]), writable=False), Connection(int(argv[1]), readable=False))


if __name__ == "__main__":  # python -m crmsync.map_process DOWN_FD UP_FD
    main(sys.argv[1:])
