"""Remembering which spec checks found nothing, so a run does not validate unchanged files again.

JSON Schema validation of every YAML file was the largest fixed cost of a run that has nothing to
do (issue 18). A check is a pure function of the checked text, the texts it is checked against
(a mapping: its connector and the canonical schemas), and the checking code (crmsync's own files,
the installed plugins and what is registered in the process). A check that passed is remembered
under a hash of all of those, in ``.crmsync/cache/spec-checks.json``. Only passes are remembered:
a file with a problem is checked every time, so its messages always come from the checker itself.
The file is only an optimisation: a missing, unreadable or corrupt cache means "check everything",
and failing to write it is ignored.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import crmsync
from crmsync.project import Project

CACHE_FILE = "spec-checks.json"
_PACKAGE = Path(crmsync.__file__).resolve().parent


@lru_cache(maxsize=1)
def _checker_fingerprint() -> str:
    """crmsync's version, every file of the package (path, size, mtime) and the installed plugins:
    an edited checker, schema or transform (also in a source checkout) makes every entry stale."""
    from importlib.metadata import entry_points

    h = hashlib.sha256(crmsync.__version__.encode())
    for root, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".json", ".yaml")):
                st = os.stat(os.path.join(root, name))
                h.update(f"{root}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for ep in sorted(entry_points(group="crmsync.plugins"), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        h.update(f"plugin {ep.name}={ep.value} {getattr(dist, 'version', '')}\n".encode())
    return h.hexdigest()


def _registered() -> str:
    """What is registered in this process (block types, transforms): a check's allowed types come from
    here, and code can register more than the installed files say (a plugin's setup, a test)."""
    from crmsync.plugins import load_plugins

    from .registry import block_types, registered_blocks

    load_plugins()
    parts = [f"{block}:{name}:{json.dumps(entry.branch(), sort_keys=True, default=str)}"
             for block in registered_blocks() for name, entry in sorted(block_types(block).items())]
    if importlib.util.find_spec("crmsync.mapping") is not None:
        from crmsync.mapping.registry import get_transform, transform_names

        parts += [f"transform:{n}:{get_transform(n).__module__}.{get_transform(n).__qualname__}"
                  for n in transform_names()]
    return "\n".join(parts)


class CheckCache:
    """The set of check keys known to pass; :meth:`save` keeps only the keys this load used."""

    def __init__(self, project: Project) -> None:
        self.path = project.state_dir / "cache" / CACHE_FILE
        self._known = self._read()
        self._passed: set[str] = set()
        self._fingerprint = hashlib.sha256(f"{_checker_fingerprint()}\0{_registered()}".encode()).hexdigest()

    def _read(self) -> set[str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {k for k in data.get("passed", []) if isinstance(k, str)}
        except (OSError, ValueError, AttributeError, TypeError):
            return set()

    def key(self, kind: str, texts: Iterable[bytes | str]) -> str:
        h = hashlib.sha256(f"{self._fingerprint}\0{kind}".encode())
        for text in texts:
            raw = text.encode() if isinstance(text, str) else text
            h.update(b"\0%d\0" % len(raw))
            h.update(raw)
        return h.hexdigest()

    def passed(self, key: str) -> bool:
        if key in self._known:
            self._passed.add(key)
            return True
        return False

    def remember(self, key: str) -> None:
        self._passed.add(key)

    def save(self) -> None:
        if self._passed == self._known:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".spec-checks.")
        except OSError:
            return  # a read-only project still runs; it only checks every file each time
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"passed": sorted(self._passed)}, out)
            os.replace(tmp, self.path)  # atomic: a concurrent run reads the old or the new set, never half
        except OSError:
            Path(tmp).unlink(missing_ok=True)


def file_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
