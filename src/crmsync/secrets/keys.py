"""Where the vault key comes from: ``CRMSYNC_SECRET_KEY``, else a key file made on first use.

The key is 32 random bytes written as urlsafe base64 (what :func:`new_key_text` prints). The key
file is ``<project>/.crmsync/secret.key``, created with owner-only permissions (0600) and never
committed (``.crmsync/`` is git-ignored). A fresh machine with the same store needs the same key:
copy the file or set the variable. Every key has a *key id* (a fingerprint that reveals nothing
about the key) stored next to each ciphertext, so "wrong key" and "tampered data" are told apart.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from crmsync.errors import UserError

ENV_VAR = "CRMSYNC_SECRET_KEY"
KEY_FILE = "secret.key"
PENDING_SUFFIX = ".new"  # rotate-key writes the next key here first; see rotate_key_file()


@dataclass(frozen=True, repr=False)
class Key:
    material: bytes
    source: str  # for messages: "CRMSYNC_SECRET_KEY" or the key file's path

    @property
    def key_id(self) -> str:
        return key_id(self.material)

    def __repr__(self) -> str:  # never show the material, not even in a debugger or traceback
        return f"Key(id={self.key_id}, source={self.source})"


def key_id(material: bytes) -> str:
    return hmac.new(material, b"crmsync key id v1", hashlib.sha256).hexdigest()[:12]


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str, source: str) -> Key:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise UserError(f"{source} is not a valid crmsync key: expected urlsafe base64 of 32 bytes "
                        f"(44 characters, e.g. from `python -c \"import base64,os;"
                        f"print(base64.urlsafe_b64encode(os.urandom(32)).decode())\"`)")
    return Key(raw, source)


def key_file(state_dir: Path) -> Path:
    return state_dir / KEY_FILE


def load_key(state_dir: Path, *, create: bool = True) -> Key:
    """The project's key: the environment variable wins, else the key file (made if ``create``)."""
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip():
        return parse_key(env, ENV_VAR)
    path = key_file(state_dir)
    if path.exists():
        return parse_key(path.read_text(), str(path))
    if not create:
        raise UserError(f"no vault key: set {ENV_VAR} or restore the key file {path}")
    _write_new_file(path, new_key_text())
    return parse_key(path.read_text(), str(path))


def pending_key(state_dir: Path) -> Key | None:
    """A key a rotation wrote but had not yet made current (the rotation was interrupted)."""
    path = key_file(state_dir).with_name(KEY_FILE + PENDING_SUFFIX)
    return parse_key(path.read_text(), str(path)) if path.exists() else None


def _write_new_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(path.parent)


def write_pending_key(state_dir: Path, text: str) -> Path:
    path = key_file(state_dir).with_name(KEY_FILE + PENDING_SUFFIX)
    path.unlink(missing_ok=True)
    _write_new_file(path, text)
    return path


def promote_pending_key(state_dir: Path) -> None:
    """Atomically make the pending key the current one (rename is atomic on one filesystem)."""
    pending = key_file(state_dir).with_name(KEY_FILE + PENDING_SUFFIX)
    os.replace(pending, key_file(state_dir))
    _fsync_dir(state_dir)


def write_key_to(path: Path, text: str) -> None:
    """Write a key for the user to move into their secret store (0600, refuses to overwrite)."""
    if path.exists():
        raise UserError(f"{path} already exists; choose a new file for the new key")
    _write_new_file(path, text)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
