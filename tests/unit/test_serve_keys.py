"""API keys: scopes nest, a key is verified by its hash, a revoked key stops working."""

import json

import pytest

from crmsync.errors import UserError
from crmsync.project import Project
from crmsync.serve.keys import allows, create_key, list_keys, revoke_key, verify


def test_scopes_nest():
    assert allows("admin", "read") and allows("operate", "operate") and not allows("read", "operate")


def test_create_verify_revoke(tmp_path):
    (tmp_path / "pipelines").mkdir()
    project = Project.at(tmp_path)
    made = create_key(project, "ci", "operate")
    assert verify(project, made["token"]).name == "ci"
    assert verify(project, made["token"] + "x") is None
    stored = json.loads((tmp_path / ".crmsync" / "api-keys.json").read_text())
    assert made["token"] not in json.dumps(stored)
    assert (tmp_path / ".crmsync" / "api-keys.json").stat().st_mode & 0o077 == 0
    revoke_key(project, made["key_id"])
    assert verify(project, made["token"]) is None
    assert list_keys(project)["keys"][0]["revoked_at"]
    with pytest.raises(UserError, match="no active key"):
        revoke_key(project, "ci")
