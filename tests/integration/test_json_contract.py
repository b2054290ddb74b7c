"""One ``--json`` contract: every command prints one JSON document on stdout — success and error — in the
same envelope, checked against its schema in crmsync/schemas/output (the real CLI, the fakes over HTTP)."""

import json
import re

import pytest

from crmsync.output import check
from tests.integration.pull.test_pull_connection import add_contact_with_a_broken_email
from tests.integration.test_pull_cli import run

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def document(project, *args, code=0):
    r = run(project, *args, "--json", ok=False)
    assert r.returncode == code, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    data = json.loads(r.stdout)  # exactly one document: json.loads refuses trailing text
    check(data)
    assert data["command"] == " ".join(a for a in args[:2] if not a.startswith("-") and a in COMMAND_WORDS)
    assert data["exit_code"] == code and data["ok"] is (code == 0)
    return data


COMMAND_WORDS = {"api-keys", "create", "revoke", "connect", "connections", "list", "show", "test", "delete",
                 "rotate-key", "validate", "pull", "push", "sync", "status", "runs", "conflicts", "resolve"}


def timestamps(value, key=None):
    """Every string under a *_at key in a document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from timestamps(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from timestamps(v)
    elif key and key.endswith("_at") and isinstance(value, str):
        yield value


@pytest.fixture
def project(tmp_path):
    run(tmp_path, "init", str(tmp_path / "p"))
    return tmp_path / "p"


def test_every_command_prints_one_document_in_its_schema(project, fake_crm):
    amo = fake_crm("amocrm", contacts=15, deals=4, tasks=4, rate_limit=False)
    add_contact_with_a_broken_email(amo)
    made = document(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
                    "--long-lived-token", "demo-token")
    assert made["name"] == "amocrm"
    assert document(project, "validate")["problems"] == []
    listed = document(project, "connections", "list")
    assert [c["name"] for c in listed["connections"]] == ["amocrm"]
    assert document(project, "connections", "show", "amocrm")["name"] == "amocrm"
    assert document(project, "connections", "test", "amocrm")["status"] == "ok"

    pulled = document(project, "pull", "amocrm", code=5)  # one contact's e-mail is not one: set aside
    assert pulled["status"] == "issues" and pulled["issues"] == {"rejected": 1, "held": 0}
    assert pulled["error"]["code"] == "issues" and "set aside" in pulled["error"]["message"]
    assert pulled["entities"]["contact"]["new_rows"] == 15 and "created" not in pulled["entities"]["contact"]
    assert all(isinstance(v, (int, float)) for v in pulled["timings"].values()) and pulled["rounds"] >= 1
    assert document(project, "pull", "amocrm", "--no-strict")["status"] == "ok"  # nothing new: nothing set aside

    assert document(project, "push", "amocrm", "--dry-run")["dry_run"] is True
    synced = document(project, "sync", "amocrm")
    assert synced["pull"]["entities"] and synced["push"]["entities"]
    assert set(synced["entities"]["contact"]) == {"created", "updated", "deleted", "conflicts", "held", "rejected",
                                                  "applied", "matched"}
    state = document(project, "status")
    (amocrm,) = [p for p in state["pipelines"] if p["pipeline"] == "amocrm"]
    assert amocrm["totals"]["set_aside"] == 1  # the first run's rejection is still open, not only the last run's
    assert amocrm["last_runs"]["pull"]["status"] == "ok" and amocrm["last_runs"]["sync"]["status"] == "ok"
    assert TIMESTAMP.match(amocrm["next_run_at"]) and all(TIMESTAMP.match(e["cursor"]) for e in amocrm["entities"])
    history = document(project, "runs", "amocrm")
    assert [r["kind"] for r in history["runs"]] == ["sync", "pull", "pull"]
    assert [r["status"] for r in history["runs"]] == ["ok", "ok", "issues"]
    assert document(project, "conflicts", "list")["pending"] == 0
    assert document(project, "connections", "delete", "amocrm", "--yes")["deleted"] == "amocrm"

    every = [*timestamps(state), *timestamps(history), *timestamps(listed)]
    assert every and all(TIMESTAMP.match(t) for t in every), every


@pytest.mark.parametrize("args, code, words", [
    (["pull", "amocrn"], 2, "no pipeline 'amocrn'"),
    (["push", "amocrm", "--entity", "lead"], 2, "does not sync 'lead'"),
    (["sync", "nope"], 2, "no pipeline 'nope'"),
    (["pull"], 2, "Missing argument"),                               # a usage error, caught by click
    (["status", "nope"], 2, "no pipeline 'nope'"),
    (["runs", "nope"], 2, "no pipeline 'nope'"),
    (["conflicts", "list", "--limit", "0"], 2, "0 is not in the range"),
    (["conflicts", "resolve", "abc", "--value", "{bad"], 2, "--value must be JSON"),
    (["connections", "show", "nope"], 2, "nope"),
    (["connections", "test", "nope"], 2, "nope"),
    (["connections", "delete", "nope", "--yes"], 2, "nope"),
    (["connections", "rotate-key", "--new-key-file", "/"], 2, "is a directory"),
    (["connect", "amocrm", "--name", "a b", "--long-lived-token", "t"], 2, ""),
])
def test_errors_are_documents_too(project, args, code, words):
    data = document(project, *args, code=code)
    assert data["error"]["code"] == "config" and words in data["error"]["message"] and data["error"]["hint"]


def test_validate_and_init_errors(project, tmp_path):
    (project / "pipelines" / "amocrm.yaml").write_text("name: amocrm\nwrite_mode: upsret\n")
    data = document(project, "validate", code=2)
    assert data["problems"] and data["error"]["code"] == "config"
    made = json.loads(run(tmp_path, "init", str(tmp_path / "fresh"), "--json").stdout)
    check(made)
    assert made["command"] == "init" and made["ok"] and made["created"]
    (tmp_path / "file").write_text("")
    r = run(tmp_path, "init", str(tmp_path / "file"), "--json", ok=False)
    assert r.returncode == 2
    data = json.loads(r.stdout)
    check(data)
    assert data["command"] == "init" and data["error"]["code"] == "config"


def test_api_keys_documents(project):
    made = document(project, "api-keys", "create", "ops", "--scope", "operate")
    assert made["name"] == "ops" and len(made["token"]) >= 16  # the one time the key is shown: not masked
    assert [k["name"] for k in document(project, "api-keys", "list")["keys"]] == ["ops"]
    assert document(project, "api-keys", "revoke", "ops")["revoked"][0]["name"] == "ops"
    assert document(project, "api-keys", "revoke", "nope", code=2)["error"]["code"] == "config"
