"""``error.transient`` in ``--json``: exit code 3 is both a CRM's refusal and a CRM that kept failing; the
flag tells a script (and crmsync.dagster's retry policy) which of them another attempt may fix."""

import json

import requests
import yaml
from filelock import FileLock

from crmsync.output import check
from tests.integration.test_pull_cli import run


def pull_json(project, pipeline="amocrm"):
    r = run(project, "pull", pipeline, "--json", ok=False)
    assert "Traceback" not in r.stderr
    document = json.loads(r.stdout)
    check(document)  # error.transient is part of the schema: required, a boolean
    return r.returncode, document["error"]


def fault(server, spec):
    requests.delete(server.url + "/_fake/faults", timeout=10).raise_for_status()
    requests.post(server.url + "/_fake/faults", json={"spec": spec}, timeout=10).raise_for_status()


def test_a_refusal_is_not_transient_and_a_crm_that_kept_failing_is(project, amo):
    fault(amo, "403:1.0@/api/v4/contacts")
    code, error = pull_json(project)
    assert (code, error["code"], error["transient"]) == (3, "crm", False)
    assert "403" in error["message"]

    spec_file = project / "connectors" / "amocrm.yaml"
    spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    spec["retry"].update(max_attempts=2, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    fault(amo, "503:1.0@/api/v4/contacts")
    code, error = pull_json(project)
    assert (code, error["code"], error["transient"]) == (3, "crm", True)
    assert "still failing after 2 attempts" in error["message"]


def test_busy_is_transient_and_a_configuration_error_is_not(project, amo):
    (project / ".crmsync" / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(project / ".crmsync" / "locks" / "run-amocrm.lock")):
        code, error = pull_json(project)
    assert (code, error["code"], error["transient"]) == (4, "busy", True)
    code, error = pull_json(project, "amocrn")
    assert (code, error["code"], error["transient"]) == (2, "config", False)
