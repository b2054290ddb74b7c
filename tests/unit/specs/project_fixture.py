"""A throwaway copy of the built-in project, to break one thing at a time.

The mapping layer's own files (canonical schemas, mappings/<crm>/*.yaml) are copied when the
built-in project has them; otherwise small stand-ins are written so the pipelines' references
resolve.
"""

from __future__ import annotations

import json
from pathlib import Path

from crmsync.project import Project
from crmsync.scaffold import init_project

STUB_CANONICAL = {
    "contact": ["id", "name", "phones", "emails"],
    "deal": ["id", "title", "amount", "currency", "stage"],
    "task": ["id", "title", "due_at", "done"],
}


def make_project(root: Path) -> Project:
    init_project(root)
    canonical = root / "mappings" / "canonical"
    if not any(canonical.glob("*.schema.json")):
        canonical.mkdir(parents=True, exist_ok=True)
        for entity, fields in STUB_CANONICAL.items():
            schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                      "properties": {f: {"type": "string"} for f in fields}}
            (canonical / f"{entity}.schema.json").write_text(json.dumps(schema, indent=2))
    for crm in ("amocrm", "bitrix24"):
        folder = root / "mappings" / crm
        folder.mkdir(parents=True, exist_ok=True)
        for entity in STUB_CANONICAL:
            target = folder / f"{entity}.yaml"
            if not target.exists():
                field = STUB_CANONICAL[entity][1]
                target.write_text(f"crm: {crm}\nentity: {entity}\nsource: {entity}\n"
                                  f"fields:\n  {field}: {field.upper()}\n")
    return Project.at(root)


def edit(project: Project, rel: str, old: str, new: str) -> int:
    """Replace the first ``old`` in ``rel``; the line where it was (tests stay true as the specs grow)."""
    path = project.root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1
