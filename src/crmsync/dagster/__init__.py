"""crmsync's pipelines as Dagster assets: ``definitions(project_dir)`` builds Dagster ``Definitions``
from a crmsync project.

Per pipeline: one multi-asset with an asset per entity (keys ``crmsync/<pipeline>/<entity>``), one job
and, unless the pipeline is ``manual``, one schedule with the YAML's cron and time zone. A
materialisation is one crmsync run, made by the same library call as ``crmsync sync`` (or ``pull`` /
``push``) and recorded in ``sync.runs``; its counts come back as Dagster metadata. Point
``dagster dev -m crmsync.dagster.project`` at a project with ``CRMSYNC_PROJECT_DIR``.

Needs the ``dagster`` extra (``pip install 'crmsync[dagster]'``).
"""

from __future__ import annotations

try:
    import dagster as _dagster  # noqa: F401 - fail here, with the fix, rather than deep inside a definition
except ImportError as exc:  # pragma: no cover - the dev extra installs it
    raise ImportError("crmsync.dagster needs Dagster: pip install 'crmsync[dagster]'") from exc

from crmsync.dagster.assets import CONNECTION_TAG, STORE_TAG, asset_key, pool_of
from crmsync.dagster.definitions import DEFAULT_RETRY_POLICY, PROJECT_ENV, definitions
from crmsync.dagster.run import RunConfig

__all__ = ["CONNECTION_TAG", "DEFAULT_RETRY_POLICY", "PROJECT_ENV", "STORE_TAG", "RunConfig", "asset_key",
           "definitions", "pool_of"]
