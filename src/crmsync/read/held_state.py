"""What dlt holds for a connection's read, from its local state file, without starting dlt.

dlt keeps a pipeline's state in ``<pipelines dir>/<pipeline>/state.json`` (and restores it from the
store on a new machine, when the pipeline runs). Reading the file lets ``status`` show the cursors
without importing dlt, and lets a pull start requesting pages while dlt starts up. Either way this
is a hint: a pull checks it against the state dlt hands its resources (and starts over if they differ).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def pipeline_name(connection: str) -> str:
    return f"crmsync_{connection}"


def held_resources(pipelines_dir: Path, connection: str, source_name: str) -> dict[str, dict[str, Any]]:
    """Each resource's state (``incremental.<cursor>.last_value``, …); {} when there is none."""
    state_file = Path(pipelines_dir) / pipeline_name(connection) / "state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    resources = ((state.get("sources") or {}).get(source_name) or {}).get("resources") or {}
    return {name: body for name, body in resources.items() if isinstance(body, dict)}
