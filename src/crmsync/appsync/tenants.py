"""A project per tenant: ``.crmsync/tenants/<key>/`` holds the tenant's store (canonical records,
connections and their encrypted credentials), its vault key, dlt state, locks and logs.

The tenant folder links the main project's ``connectors/``, ``mappings/``, ``pipelines/`` and ``config/``
(the pipeline YAML is the template every tenant's runs follow), so every crmsync command works on it
unchanged (``crmsync sync PIPELINE --project-dir <tenant folder>``), and nothing a tenant can name or guess
reaches another tenant's file: the folder name is a hash of the tenant id, never the id itself.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from crmsync.errors import UserError
from crmsync.project import SPEC_DIRS, Project

LINKED = (*SPEC_DIRS, "config")


def folder_key(tenant: str) -> str:
    return "t-" + hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Tenant:
    id: str
    project: Project


class Tenants:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = project.state_dir / "tenants"
        self._lock = threading.Lock()
        self._made: set[str] = set()

    def get(self, tenant: str) -> Tenant:
        key = folder_key(tenant)
        folder = self.root / key
        with self._lock:
            if key not in self._made:
                self._make(folder, tenant)
                self._made.add(key)
        return Tenant(tenant, Project(folder))

    def _make(self, folder: Path, tenant: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in LINKED:
            target = self.project.root / name
            link = folder / name
            if target.exists() and not link.exists():
                link.symlink_to(target, target_is_directory=True)
        marker = folder / "tenant.json"
        if not marker.exists():
            marker.write_text(json.dumps({"tenant": tenant}) + "\n", encoding="utf-8")
        elif json.loads(marker.read_text(encoding="utf-8")).get("tenant") != tenant:
            raise UserError(f"tenant folder {folder.name} belongs to another tenant id (a hash collision?)")

    def known(self) -> list[Tenant]:
        """Every tenant that has a folder (made by its first request)."""
        out = []
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                marker = folder / "tenant.json"
                if marker.is_file():
                    try:
                        out.append(self.get(json.loads(marker.read_text(encoding="utf-8"))["tenant"]))
                    except (ValueError, KeyError):
                        continue
        return out
