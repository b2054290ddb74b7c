"""A plugin from outside the package, found by its ``crmsync.plugins`` entry point and used from YAML.

The test writes a tiny distribution (a module and its ``.dist-info`` with ``entry_points.txt``) into a
temporary folder and puts that folder on the path of subprocesses only: the real CLI validates a
connector and a mapping that use the plugin's writer and transform, and a push of one record goes
through the plugin's writer to a tiny CRM over real HTTP. Nothing is installed where other tests run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.push.tiny_crm import TinyCrm

PLUGIN = '''
from crmsync.mapping.registry import Transform
from crmsync.push.writer import KindWriter, Outcome


class Shout(Transform):
    summary = "text in capitals (pull) and in small letters (push)"

    def forward(self, value, ctx):
        return str(value).upper()

    def inverse(self, value, ctx):
        return str(value).lower()


class FormWriter(KindWriter):
    """One POST per record whose answer is the new id."""

    def send(self, ops, sending):
        out = []
        for op in ops:
            sending([op])
            response = self.session.post(self.url(self.call["path"]), json={"form": op.payload}, idempotent=False)
            out.append(Outcome(op, str(response.json())))
        return out


def setup(registry):
    registry.transform("shout", Shout)
    registry.writer("form_post", FormWriter, description="one POST per record, the answer is the new id",
                    properties={"path": {"type": "string"}, "batch_size": {"type": "integer"}}, required=["path"])
'''

CONNECTOR = """\
name: tinycrm
title: Tiny CRM
base_url: "{base_url}"
auth:
  - {type: long_lived_token, header: Authorization, value: "Bearer {token}"}
check: {path: v1/me}
errors:
  - {status: [400, 404], action: fail_record}
entities:
  contact:
    list: {path: v1/people, records: data}
    create: {type: form_post, path: v1/people}
    read_back: {params: {ids: "{ids}"}, size: 50}
    recover: {type: by_content, params: {since: "{cursor}"}, format: unix_seconds}
"""

MAPPING = """\
crm: tinycrm
entity: contact
source: contact
fields:
  first_name: {from: first, transforms: [{type: shout}]}
"""

PUSH = """
import json, sys
from pathlib import Path
from crmsync.project import Project
from crmsync.push.outbox import Op
from crmsync.push.writer import writer_for
from crmsync.http.session import CrmSession
from crmsync.http.pacing import Unlimited
from crmsync.mapping.spec import load_mapping
from crmsync.specs.yamlload import load_yaml

project, url = Project(Path(sys.argv[1])), sys.argv[2]
connector = load_yaml(project.connectors_dir / "tinycrm.yaml")
mapping = load_mapping(project.mappings_dir / "tinycrm" / "contact.yaml")
session = CrmSession.from_connector(connector, Unlimited(), records_can_fail=True)
writer = writer_for("contact", connector, session, url)
op = Op(kind="create", entity="contact", connection="tiny", canonical_id="c1", remote_id=None, fields=["first_name"],
        values={"first_name": "ANN"}, payload={"first": "ann"}, idempotency_key="k1")
[outcome] = writer.send("create", [op], lambda ops: None)
print(json.dumps({"remote_id": outcome.remote_id, "error": outcome.error}))
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "shout_plugin").mkdir(parents=True)
    (root / "shout_plugin" / "__init__.py").write_text(PLUGIN)
    info = root / "shout_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[crmsync.plugins]\nshout = shout_plugin:setup\n")
    return root


def run(args: list[str], cwd: Path, site: Path | None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    paths = [str(site)] if site else []
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    made = run(["-m", "crmsync", "init", str(proj)], tmp_path, None)
    assert made.returncode == 0, made.stderr
    (proj / "connectors" / "tinycrm.yaml").write_text(CONNECTOR)
    (proj / "mappings" / "tinycrm").mkdir()
    (proj / "mappings" / "tinycrm" / "contact.yaml").write_text(MAPPING)
    return proj


def test_yaml_that_uses_a_plugin_is_valid_only_with_the_plugin_installed(project: Path, site: Path) -> None:
    ok = run(["-m", "crmsync", "validate", "--project-dir", str(project)], project, site)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    without = run(["-m", "crmsync", "validate", "--project-dir", str(project)], project, None)
    assert without.returncode == 2
    assert "entities.contact.create.type: 'form_post' is not one of the known types" in without.stdout + without.stderr
    assert "unknown transform 'shout'" in without.stdout + without.stderr
    conn = project / "connectors" / "tinycrm.yaml"
    conn.write_text(conn.read_text().replace("type: form_post", "type: form_pots"))
    typo = run(["-m", "crmsync", "validate", "--project-dir", str(project)], project, site)
    assert typo.returncode == 2 and "form_post" in typo.stdout + typo.stderr  # listed among the allowed types


def test_a_push_goes_through_the_plugins_writer(project: Path, site: Path) -> None:
    routes = {("POST", "/v1/people"): lambda r: (201, "77")}
    with TinyCrm(routes) as crm:
        done = run(["-c", PUSH, str(project), crm.url], project, site)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1]) == {"remote_id": "77", "error": None}
        assert crm.requests[0]["body"] == {"form": {"first": "ann"}}


def test_a_plugin_that_fails_to_load_stops_with_its_name(project: Path, site: Path) -> None:
    (site / "shout_plugin" / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    broken = run(["-m", "crmsync", "validate", "--project-dir", str(project)], project, site)
    assert broken.returncode == 2
    assert "crmsync plugin 'shout' (shout_plugin:setup) failed to load: RuntimeError: broken on purpose" in (
        broken.stdout + broken.stderr)
