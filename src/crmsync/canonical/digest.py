"""A canonical record's base hash, and what a mapped record brings of it (its own module: a mapping process,
:mod:`crmsync.map_process`, computes them without the store's imports)."""

from __future__ import annotations

import hashlib
from typing import Any

from crmsync.jsontext import dump_bytes, dumps


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.blake2b(dump_bytes(record, sort_keys=True), digest_size=16).hexdigest()


def prepared(remote_id: str, canonical: dict[str, Any]) -> tuple[str, dict[str, Any], None, None, str, str]:
    """A mapped record as the apply takes it, with its base hash and its JSON text already made (in a mapping
    process, so that the run's own process does not make them)."""
    return remote_id, canonical, None, None, record_hash(canonical), dumps(canonical)


def digest_of(item: tuple[Any, ...]) -> str | None:
    """The base hash of a mapped record (None: set aside), as :func:`prepared` gave it or made here."""
    if item[1] is None:
        return None
    return item[4] if len(item) > 4 else record_hash(item[1])


def text_of(item: tuple[Any, ...]) -> str:
    """A mapped record's JSON text, as :func:`prepared` gave it or made here."""
    return item[5] if len(item) > 5 else dumps(item[1])
