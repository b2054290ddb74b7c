"""Every declarative paginator walks a real listing over HTTP, and stops with a clear error when a page repeats."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from crmsync.errors import CrmError
from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.read.calls import call_for
from crmsync.read.paginators import make_paginator, paginator_types, records_at, walk
from crmsync.read.storable import loads_exact


def _ids(pages, records):
    out = []
    for _, page in pages:
        rows = page if isinstance(page, list) else records_at(loads_exact(page), records)
        out.extend(str(r.get("id", r.get("ID"))) for r in rows)
    return out


def _session(token=None):
    """crmsync's own session (retries, error rules), as a read uses it."""
    session = CrmSession.from_connector({"name": "t", "errors": [{"status": 400, "action": "fail_record"}]},
                                        Unlimited())
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def _amo():
    return _session("demo-token")


def test_the_built_in_paginators_are_registered():
    assert paginator_types() == ["cursor", "keyset_batch", "next_url", "offset", "page_number"]


def test_page_number_and_next_url_from_the_body_read_the_same_records(fake_crm):
    server = fake_crm("amocrm", contacts=23, rate_limit=False)
    block = {"path": "api/v4/contacts", "records": "_embedded.contacts"}
    numbered = make_paginator({"type": "page_number", "size_param": "limit", "size": 5, "empty_status": 204})
    linked = make_paginator({"type": "next_url", "next_path": "_links.next.href", "size_param": "limit", "size": 5,
                             "empty_status": 204})
    by_number = _ids(walk(numbered, _amo(), call_for(block, server.url, where="t")), block["records"])
    by_link = _ids(walk(linked, _amo(), call_for(block, server.url, where="t")), block["records"])
    assert len(by_number) == 23 and by_link == by_number and len(set(by_number)) == 23


def test_cursor_from_a_body_path(fake_crm):
    server = fake_crm("hubspot", contacts=23, rate_limit=False)
    session = _session("demo-token")
    block = {"path": "crm/v3/objects/contacts", "records": "results"}
    pager = make_paginator({"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after",
                            "size_param": "limit", "size": 10})
    pages = list(walk(pager, session, call_for(block, server.url, where="t")))
    assert [n for n, _ in pages] == [10, 10, 3]
    assert len(set(_ids(pages, "results"))) == 23


def test_offset_and_keyset_batch_over_an_rpc_listing(fake_crm):
    server = fake_crm("bitrix24", contacts=120, rate_limit=False)
    base = server.url + "/rest/1/demo"
    block = {"method": "crm.contact.list", "records": "result", "id_field": "ID", "params": {"select": ["ID"]}}
    offset = make_paginator({"type": "offset", "offset_param": "start", "size": 50})
    by_offset = _ids(walk(offset, _session(), call_for(block, base, where="t")), "result")
    keyset = make_paginator({"type": "keyset_batch", "page_size": 50, "commands_per_batch": 2, "params": {"start": -1},
                             "batch_method": "batch", "body": {"halt": 0}, "commands_key": "cmd",
                             "reference": "$result[{previous}]{records}[{last}][{id}]",
                             "results_path": "result.result", "errors_path": "result.result_error"})
    by_keyset = _ids(walk(keyset, _session(), call_for({**block, "records": None}, base, where="t")), None)
    assert len(by_offset) == 120 and sorted(by_keyset, key=int) == sorted(by_offset, key=int)


class _LinkHeaderApi(BaseHTTPRequestHandler):
    """Three pages of two records, the next one named only by a Link header; ?broken ignores the page."""

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        query = parse_qs(urlparse(self.path).query)
        page = 1 if "broken" in query else int(query.get("p", ["1"])[0])
        body = json.dumps({"items": [{"id": page * 10 + i} for i in range(2)]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if page < 3:
            self.send_header("Link", f'<http://127.0.0.1:{self.server.server_port}/items?p={page + 1}'
                                     f'{"&broken=1" if "broken" in query else ""}>; rel="next"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def link_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LinkHeaderApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_next_url_from_the_link_header(link_api):
    pages = walk(make_paginator({"type": "next_url"}), _session(),
                 call_for({"path": "items", "records": "items"}, link_api, where="t"))
    assert _ids(pages, "items") == ["10", "11", "20", "21", "30", "31"]


def test_a_repeated_page_stops_the_walk_and_names_the_call(link_api, fake_crm):
    call = call_for({"path": "items", "records": "items", "params": {"broken": 1}}, link_api,
                    where="connector demo, entity contact")
    with pytest.raises(CrmError, match=r"connector demo, entity contact: page 2 repeats page 1 \(2 records, the same "
                                       r"ids\): the CRM ignores the paging parameters"):
        list(walk(make_paginator({"type": "next_url"}), _session(), call))
    # an API that ignores the page parameter (AmoCRM knows no "pg"): page 1 every time
    server = fake_crm("amocrm", contacts=30, rate_limit=False)
    ignored = make_paginator({"type": "page_number", "page_param": "pg", "size_param": "limit", "size": 10})
    with pytest.raises(CrmError, match="page 2 repeats page 1"):
        list(walk(ignored, _amo(), call_for({"path": "api/v4/contacts", "records": "_embedded.contacts"}, server.url,
                                            where="connector amocrm, entity contact")))
