"""Authenticated encryption of connection credentials (AES-256-GCM from ``cryptography``).

A sealed value is ``version byte || 12-byte random nonce || ciphertext+tag``. The associated data
binds it to its connection and field (``crmsync/v1/<connection>/<field>``), so a ciphertext copied
onto another connection or field fails to open instead of silently working there. Each row also
keeps the *key id* that sealed it: a key id we do not hold means "wrong key"; a known key whose
tag does not verify means "the stored bytes were changed" — two different messages.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crmsync.errors import UserError

from .keys import ENV_VAR, Key, load_key, pending_key
from .masking import register

VERSION = b"\x01"
NONCE_BYTES = 12


class WrongKeyError(UserError):
    """The row was sealed with a key we were not given."""


class TamperedError(UserError):
    """The key is right but the ciphertext does not verify: the stored bytes were changed."""


def _aad(record: str, field: str) -> bytes:
    return f"crmsync/v1/{record}/{field}".encode()


class Vault:
    """Seals with ``key``; opens rows sealed with ``key`` or any of ``also`` (an interrupted rotation)."""

    def __init__(self, key: Key, also: tuple[Key, ...] = ()) -> None:
        self.key = key
        self._keys = {k.key_id: k for k in (*also, key)}

    @property
    def key_id(self) -> str:
        return self.key.key_id

    def seal(self, record: str, field: str, value: dict[str, Any]) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        return VERSION + nonce + AESGCM(self.key.material).encrypt(nonce, plaintext, _aad(record, field))

    def open(self, record: str, field: str, sealed: bytes, sealed_key_id: str) -> dict[str, Any]:
        key = self._keys.get(sealed_key_id)
        if key is None:
            hint = (f"set {ENV_VAR} to the key this store was used with" if self.key.source == ENV_VAR
                    else f"restore the key file {self.key.source} that was used with this store, or set {ENV_VAR}")
            raise WrongKeyError(
                f"cannot decrypt the credentials of connection '{record}': they were encrypted with key id "
                f"{sealed_key_id}, but the key from {self.key.source} has id {self.key.key_id}. "
                f"Use the right key ({hint}); if it is lost, reconnect: crmsync connect <crm> --name {record} "
                f"--replace")
        sealed = bytes(sealed)
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != VERSION:
            raise TamperedError(self._tampered(record))
        nonce, body = sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
        try:
            plaintext = AESGCM(key.material).decrypt(nonce, body, _aad(record, field))
        except InvalidTag:
            raise TamperedError(self._tampered(record)) from None
        value = json.loads(plaintext)
        for item in value.values():
            if isinstance(item, str):
                register(item)
        return value

    @staticmethod
    def _tampered(record: str) -> str:
        return (f"the stored credentials of connection '{record}' failed their integrity check: the row in "
                f"sync.connections was changed or damaged outside crmsync. Nothing was sent to the CRM. "
                f"Reconnect to replace them: crmsync connect <crm> --name {record} --replace")


def vault_for(state_dir: Path, *, create: bool = True) -> Vault:
    """The project's vault: its current key, plus a pending key left by an interrupted rotate-key."""
    pending = pending_key(state_dir)
    return Vault(load_key(state_dir, create=create), also=(pending,) if pending else ())
