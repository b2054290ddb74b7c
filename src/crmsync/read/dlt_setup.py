"""dlt, configured for this workload before it is first imported (its defaults are a trap here).

Measured on this kind of machine (shared/reference/dlt-notes.md): DuckDB's default loader format
took 81 s and 10 GB for 100k contacts; jsonl without compression and without nested child tables
took a fraction of that. Telemetry is off unless the user turns it on. dlt reads ``config/`` of the
project as its config folder (``config.toml`` / git-ignored ``secrets.toml``), environment variables
override both, and everything dlt writes stays under ``.crmsync/dlt`` in the project.
"""

from __future__ import annotations

import os
from types import ModuleType

from crmsync.project import Project

# Our defaults; a user's config.toml or environment wins (we only set what is not set).
TUNED = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "LOAD__DELETE_COMPLETED_JOBS": "true",
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
    "RUNTIME__LOG_LEVEL": "ERROR",  # dlt warns about all-null columns on every CRM; not actionable
    "SCHEMA__NAMING": "direct",  # raw tables keep the CRM's own field names (DATE_MODIFY, UF_CRM_…)
    # pyarrow's own allocator (mimalloc) kept what the read's Arrow tables had freed: a 40k-record read
    # peaked at 479 MB with it, 401 MB with the system allocator (438 MB as records, before Arrow).
    "ARROW_DEFAULT_MEMORY_POOL": "system",
}

# What the engine relies on, whatever a config says: Arrow tables (crmsync.read.batches) get the
# columns dlt gives records, ``_dlt_load_id`` (which rows a round loaded, crmsync.pull) and the
# ``_dlt_id`` a raw table declares NOT NULL.
REQUIRED = {
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true",
}


def configure(project: Project) -> ModuleType:
    """Point dlt at the project and return the ``dlt`` module."""
    os.environ.setdefault("DLT_PROJECT_DIR", str(project.root))
    os.environ.setdefault("DLT_CONFIG_FOLDER", "config")
    os.environ.setdefault("DLT_DATA_DIR", str(project.dlt_dir))
    for key, value in TUNED.items():
        os.environ.setdefault(key, value)
    os.environ.update(REQUIRED)
    import dlt

    return dlt
