"""A CRM crmsync has never seen, added by YAML alone (issue 15, point 3).

In a project made by ``crmsync init``, the test writes a connector, a mapping and a pipeline for
"Acorn CRM" — a REST API of its own invention, served by a small fake written here: a bearer token,
cursor pages (``next_cursor``), an ``updated_since`` filter with RFC 3339 times, one record per call
writes (``POST``, ``PATCH /{id}``, ``DELETE /{id}``) and a read by ids. Then the real CLI validates,
connects, pulls and pushes, and no Python is added to crmsync.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

TOKEN = "acorn-secret-token"

CONNECTOR = """\
name: acorn
title: Acorn CRM
base_url: "{base_url}"
auth:
  - {type: long_lived_token, header: Authorization, value: "Bearer {token}"}
check: {path: api/me}
connect: {address: host, hint: "--base-url"}
account:
  identity: [{name: account_id, from: check, field: account.id}]
  summary: [{name: account, field: account.name}]
errors:
  - {status: [429, 500, 502, 503], action: retry}
  - {status: [400, 404, 422], action: fail_record}
paginator: {type: cursor, cursor_path: next_cursor, cursor_param: cursor, size_param: limit, size: 2}
entities:
  contact:
    list: {path: api/people, records: people}
    incremental:
      cursor: modified
      format: iso8601
      params: {updated_since: "{cursor}"}
      overlap_seconds: 0
    create: {type: rest, method: POST, path: api/people, body: {person: "{fields}"}, id_path: person.id,
             record_path: person}
    update: {type: rest, method: PATCH, path: "api/people/{id}", body: {person: "{fields}"}, record_path: person}
    delete: {type: rest, method: DELETE, path: "api/people/{id}", idempotent: true}
    read_back: {params: {ids: "{ids}"}}
    recover:
      type: by_content
      params: {updated_since: "{cursor}"}
      format: rfc3339
"""

MAPPING = """\
crm: acorn
entity: contact
source: contact
fields:
  first_name: {from: given, transforms: [{type: text}]}
  last_name: {from: family, transforms: [{type: text}]}
  position: {from: job.title, transforms: [{type: text}]}
  phones:
    from: channels
    transforms:
      - {type: contact_points, value_key: address, kind_key: kind, kinds: {cell: mobile, desk: work}}
      - {type: phone, default_region: US}
  created_at: {from: created, transforms: [{type: iso_time}], direction: pull}
  updated_at: {from: modified, transforms: [{type: iso_time}], direction: pull}
"""

PIPELINE = """\
name: acorn
crm: acorn
connection: acorn
entities: [contact]
direction: both
conflicts: {default: newest_wins, clock_skew_seconds: 5}
write_mode: upsert
deletes: hard
staging: {type: duckdb, path: crmsync.duckdb}
"""


class Acorn:
    """The fake: people with ids, modified times that move on every write, and a clock a test can move."""

    def __init__(self) -> None:
        self.clock = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
        self.people: dict[int, dict[str, Any]] = {}
        self.writes: list[str] = []
        for i, (given, family) in enumerate([("Ada", "Byron"), ("Alan", "Turing"), ("Grace", "Hopper")], start=1):
            self._put(i, {"given": given, "family": family, "job": {"title": "Engineer"},
                          "channels": [{"address": f"+1 415 555 01{i:02d}", "kind": "cell"}]})
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    status, answer = 401, {"error": "bad token"}
                else:
                    status, answer = fake.route(self.command, parts.path, parse_qs(parts.query), body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.lock = threading.Lock()

    def tick(self) -> str:
        self.clock += dt.timedelta(seconds=1)
        return self.clock.isoformat().replace("+00:00", "Z")

    def _put(self, pid: int, fields: dict[str, Any]) -> dict[str, Any]:
        now = self.tick()
        person = self.people.get(pid) or {"id": pid, "created": now}
        person.update(fields, modified=now)
        self.people[pid] = person
        return person

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self.lock:
            if (method, path) == ("GET", "/api/me"):
                return 200, {"account": {"id": 7, "name": "Acorn demo"}}
            if (method, path) == ("GET", "/api/people"):
                rows = sorted(self.people.values(), key=lambda p: p["id"])
                if "ids" in query:
                    rows = [p for p in rows if str(p["id"]) in set(query["ids"])]
                if "updated_since" in query:
                    since = dt.datetime.fromisoformat(query["updated_since"][0].replace("Z", "+00:00"))
                    rows = [p for p in rows if dt.datetime.fromisoformat(p["modified"].replace("Z", "+00:00")) >= since]
                start, size = int((query.get("cursor") or ["0"])[0]), int((query.get("limit") or ["2"])[0])
                page = rows[start:start + size]
                more = start + size < len(rows)
                return 200, {"people": page, **({"next_cursor": str(start + size)} if more else {})}
            if (method, path) == ("POST", "/api/people"):
                self.writes.append("create")
                pid = max(self.people, default=0) + 1
                return 201, {"person": self._put(pid, body["person"])}
            if path.startswith("/api/people/") and path.rsplit("/", 1)[1].isdigit():
                pid = int(path.rsplit("/", 1)[1])
                if pid not in self.people:
                    return 404, {"error": f"no person {pid}"}
                if method == "PATCH":
                    self.writes.append("update")
                    return 200, {"person": self._put(pid, body["person"])}
                if method == "DELETE":
                    self.writes.append("delete")
                    del self.people[pid]
                    return 204, None
            return 404, {"error": f"no route {method} {path}"}

    def __enter__(self) -> Acorn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CRMSYNC_LONG_LIVED_TOKEN": TOKEN}
    return subprocess.run([sys.executable, "-m", "crmsync", *args, "--project-dir", str(project)], env=env,
                          capture_output=True, text=True, timeout=180)


def sql(project: Path, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(project / "crmsync.duckdb"))
    try:
        return con.execute(statement, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    made = subprocess.run([sys.executable, "-m", "crmsync", "init", str(tmp_path / "p")], capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    root = tmp_path / "p"
    (root / "connectors" / "acorn.yaml").write_text(CONNECTOR)
    (root / "mappings" / "acorn").mkdir()
    (root / "mappings" / "acorn" / "contact.yaml").write_text(MAPPING)
    (root / "pipelines" / "acorn.yaml").write_text(PIPELINE)
    return root


def test_a_crm_written_only_as_yaml_validates_connects_pulls_and_pushes(project: Path) -> None:
    checked = cli(project, "validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with Acorn() as acorn:
        joined = cli(project, "connect", "acorn", "--name", "acorn", "--base-url", acorn.url, "--json")
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert json.loads(joined.stdout)["account"] == {"account": "Acorn demo"}

        pulled = cli(project, "pull", "acorn", "--json")
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        rows = dict(sql(project, "SELECT l.remote_id, to_json(c) FROM canonical.contacts c JOIN sync.links l "
                                 "ON l.canonical_id = c.id AND l.connection = 'acorn'"))
        assert set(rows) == {"1", "2", "3"}
        ada = json.loads(rows["1"])
        assert (ada["first_name"], ada["last_name"], ada["position"]) == ("Ada", "Byron", "Engineer")
        assert ada["phones"] == [{"value": "+14155550101", "type": "mobile"}]

        again = cli(project, "pull", "acorn", "--json")
        assert json.loads(again.stdout)["entities"]["contact"]["read"] == 0  # only changes: none

        sql(project, "UPDATE canonical.contacts SET position = 'Countess', updated_at = now() "
                     "WHERE first_name = 'Ada'")
        sql(project, "INSERT INTO canonical.contacts (first_name, last_name, phones) "
                     "VALUES ('Linus', 'Torvalds', '[{\"value\": \"+14155550199\", \"type\": \"work\"}]')")
        sql(project, "UPDATE canonical.contacts SET deleted_at = now() WHERE first_name = 'Alan'")
        pushed = cli(project, "push", "acorn", "--json")
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        counts = json.loads(pushed.stdout)["entities"]["contact"]
        assert (counts["created"], counts["updated"], counts["deleted"]) == (1, 1, 1), counts
        assert sorted(acorn.writes) == ["create", "delete", "update"]
        assert acorn.people[1]["job"] == {"title": "Countess"}
        assert 2 not in acorn.people
        linus = next(p for p in acorn.people.values() if p["given"] == "Linus")
        assert linus["channels"] == [{"address": "+14155550199", "kind": "desk"}]

        synced = cli(project, "sync", "acorn", "--json")  # our writes read back are no news; nothing to send
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert sorted(acorn.writes) == ["create", "delete", "update"]
