"""A read round holds each record once, so dlt's merge loads its staged rows without numbering them by key
(``deduplicated``): a record the listing sends again goes to the next round, whose load replaces the first copy."""

import json
import shutil

import pytest

from crmsync.project import Project, builtin_project_dir
from crmsync.read.run import read_connection
from tests.integration.fake_sessions import fake_session
from tests.integration.fake_sessions import store_rows as rows


def _read_with_a_record_sent_twice(root, server, *, same_page: bool):
    """Read AmoCRM's contacts; the answer for page 2 (or page 1 itself) also holds page 1's first record, renamed."""
    shutil.copytree(builtin_project_dir() / "connectors", root / "connectors")
    project = Project(root)
    connector, session, base = fake_session(project, "amocrm", server)
    first: dict = {}

    def resend(response, **_):
        if "/contacts" not in response.url or response.status_code != 200:
            return response
        body = json.loads(response.content)
        records = body["_embedded"]["contacts"]
        if "page=1&" in response.url + "&":
            first.update(records[0])
        if ("page=1&" if same_page else "page=2&") in response.url + "&":
            records.append({**first, "name": "Read again", "first_name": "Again"})
            response._content = json.dumps(body).encode()
        return response

    session.hooks["response"].append(resend)
    result = read_connection(project, connection="amocrm", connector=connector, entities=["contact"],
                             session=session, base_url=base, store="crmsync.duckdb")
    return project, result, first["id"]


@pytest.mark.parametrize("same_page", [False, True])
def test_a_record_sent_twice_in_a_round_lands_once_as_it_was_read_last(tmp_path, fake_crm, same_page):
    server = fake_crm("amocrm", contacts=600, deals=0, tasks=0, rate_limit=False)
    project, result, rid = _read_with_a_record_sent_twice(tmp_path, server, same_page=same_page)

    assert result.read["contact"] == 601  # both copies were loaded, in rounds of their own
    assert result.rounds == 2  # 600 records fit one round: the second copy began another
    assert rows(project, "SELECT count(*), count(DISTINCT id) FROM raw_amocrm.contact") == [(600, 600)]
    assert rows(project, "SELECT name, first_name FROM raw_amocrm.contact WHERE id = ?", [rid]) == \
        [("Read again", "Again")]
    hints = rows(project, "SELECT schema FROM raw_amocrm._dlt_version ORDER BY inserted_at DESC LIMIT 1")[0][0]
    assert json.loads(hints)["tables"]["contact"]["x-stage-data-deduplicated"] is True
