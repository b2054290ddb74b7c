"""Declared writer kinds, read-back and lost-create lookups against a tiny CRM over real HTTP."""

import datetime as dt

import pytest

from crmsync.errors import CrmError
from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.push.lookup import format_instant
from crmsync.push.outbox import Op
from crmsync.push.writer import fill, register_writer, writer_for
from tests.unit.push.tiny_crm import TinyCrm


def op(kind, remote_id=None, payload=None, key="k1", op_id=None, sent_at=None):
    o = Op(kind=kind, entity="contact", connection="c", canonical_id="can-1", remote_id=remote_id, fields=["name"],
           values={"name": "Ann"}, payload=payload if payload is not None else {"name": "Ann"}, idempotency_key=key,
           sent_at=sent_at)
    if op_id:
        o.op_id = op_id
    return o


ERRORS = [{"status": [400, 404, 409, 422], "action": "fail_record"}, {"status": [500, 502, 503], "action": "retry"}]


def session():
    return CrmSession.from_connector({"title": "Tiny CRM", "errors": ERRORS, "retry": {"max_attempts": 2}},
                                     Unlimited(), records_can_fail=True)


def connector(entity):
    return {"name": "tiny", "paginator": {"type": "page_number", "size": 2, "size_param": "limit"},
            "entities": {"contact": entity}}


LIST = {"path": "v1/people", "records": "data"}


def test_fill_puts_values_whole_or_as_text():
    values = {"fields": {"a": 1}, "id": "7", "key": "k"}
    assert fill({"properties": "{fields}", "id": "{id}", "note": "key={key}"}, values) == {
        "properties": {"a": 1}, "id": "7", "note": "key=k"}
    assert fill({"...": "{fields}", "extra": True}, values) == {"a": 1, "extra": True}
    assert fill("v1/people/{id}", values) == "v1/people/7"


def test_rest_writer_fills_the_id_into_the_path_and_reads_the_new_id():
    routes = {
        ("POST", "/v1/people"): lambda r: (201, {"data": {"id": 41, **r["body"]["properties"]}}),
        ("PATCH", "/v1/people/41"): lambda r: (200, {"data": {"id": 41}}),
        ("DELETE", "/v1/people/41"): lambda r: (204, None),
        ("DELETE", "/v1/people/99"): lambda r: (404, {"message": "no such person"}),
    }
    spec = {"list": LIST,
            "create": {"type": "rest", "method": "POST", "path": "v1/people", "body": {"properties": "{fields}"},
                       "id_path": "data.id", "record_path": "data"},
            "update": {"type": "rest", "method": "PATCH", "path": "v1/people/{id}", "body": {"properties": "{fields}"}},
            "delete": {"type": "rest", "method": "DELETE", "path": "v1/people/{id}", "idempotent": True}}
    with TinyCrm(routes) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        sent = []
        [made] = w.send("create", [op("create")], sent.append)
        assert made.ok and made.remote_id == "41" and made.raw == {"id": 41, "name": "Ann"}
        [changed] = w.send("update", [op("update", "41")], sent.append)
        assert changed.ok and changed.remote_id == "41"
        deleted, gone = w.send("delete", [op("delete", "41"), op("delete", "99")], sent.append)
        assert deleted.ok and gone.gone and "no such person" in gone.error
        assert [(r["method"], r["path"]) for r in crm.requests] == [
            ("POST", "/v1/people"), ("PATCH", "/v1/people/41"), ("DELETE", "/v1/people/41"),
            ("DELETE", "/v1/people/99")]
        assert crm.requests[1]["body"] == {"properties": {"name": "Ann"}}
        assert len(sent) == 4  # each call announced just before it went out


def test_rest_writer_stops_at_a_lost_answer_and_marks_the_rest_unsent():
    routes = {("POST", "/v1/people"): lambda r: (0, None)}
    spec = {"list": LIST, "create": {"type": "rest", "method": "POST", "path": "v1/people"}}
    with TinyCrm(routes) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        first, second = w.send("create", [op("create"), op("create", key="k2")], lambda ops: None)
        assert first.unknown and second.unknown and "not sent" in second.unknown
        assert len(crm.requests) == 1  # a write that is not idempotent is not sent again as is


def test_batch_writer_envelope_matches_by_order_and_by_id():
    def create(r):
        return 201, {"status": "COMPLETE", "results": [{"id": str(100 + i), "properties": item["properties"]}
                                                      for i, item in enumerate(r["body"]["inputs"])]}

    def update(r):
        found = [i for i in r["body"]["inputs"] if i["id"] != "404"]
        return 207, {"results": [{"id": i["id"]} for i in reversed(found)],
                     "errors": [{"category": "OBJECT_NOT_FOUND", "context": {"ids": ["404"]}}]}
    routes = {("POST", "/v3/people/batch/create"): create, ("POST", "/v3/people/batch/update"): update}
    spec = {"list": LIST,
            "create": {"type": "batch", "path": "v3/people/batch/create", "item": {"properties": "{fields}"}},
            "update": {"type": "batch", "path": "v3/people/batch/update",
                       "item": {"id": "{id}", "properties": "{fields}"}, "missing": {}}}
    with TinyCrm(routes) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        a, b = w.send("create", [op("create", op_id="a"), op("create", payload={"name": "Bo"}, op_id="b")],
                      lambda ops: None)
        assert (a.remote_id, b.remote_id) == ("100", "101")
        assert crm.requests[0]["body"] == {"inputs": [{"properties": {"name": "Ann"}}, {"properties": {"name": "Bo"}}]}
        x, y, z = w.send("update", [op("update", "5"), op("update", "404"), op("update", "6")], lambda ops: None)
        assert (x.ok, x.remote_id, z.ok, z.remote_id) == (True, "5", True, "6")
        assert y.gone and not y.ok


def test_batch_create_with_fewer_results_than_inputs_is_settled_as_lost_not_guessed():
    routes = {("POST", "/v3/people/batch/create"): lambda r: (201, {"results": [{"id": "1"}]})}
    spec = {"list": LIST, "create": {"type": "batch", "path": "v3/people/batch/create"}}
    with TinyCrm(routes) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        outcomes = w.send("create", [op("create"), op("create", key="k2")], lambda ops: None)
        assert all(o.unknown and not o.ok for o in outcomes)


def test_read_back_by_a_call_of_its_own():
    def read(r):
        return 207, {"results": [{"id": i["id"], "name": "x"} for i in r["body"]["inputs"] if i["id"] != "3"]}
    routes = {("POST", "/v3/people/batch/read"): read}
    spec = {"list": LIST, "read_back": {"path": "v3/people/batch/read", "body": {"inputs": "{id_items}",
                                                                               "properties": ["name"]},
                                        "id_item": {"id": "{id}"}, "records": "results", "size": 2}}
    with TinyCrm(routes) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        assert set(w.fetch(["1", "2", "3"])) == {"1", "2"}
        assert [len(r["body"]["inputs"]) for r in crm.requests] == [2, 1]
        assert crm.requests[0]["body"]["properties"] == ["name"]


@pytest.mark.parametrize(("fmt", "expected"), [
    ("unix_seconds", "1700000000"), ("unix_ms", "1700000000000"),
    ("iso8601", "2023-11-14T22:13:20+00:00"), ("rfc3339", "2023-11-14T22:13:20.000Z")])
def test_the_cursor_is_written_in_the_connectors_format(fmt, expected):
    assert format_instant(dt.datetime.fromtimestamp(1700000000, dt.timezone.utc), fmt) == expected


def test_lost_create_found_by_content_with_the_declared_filter_and_format():
    sent_at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    people = [{"id": 1, "name": "Bo"}, {"id": 2, "name": "Ann"}, {"id": 3, "name": "Ann"}]

    def listing(r):
        page, size = int(r["query"]["page"][0]), int(r["query"]["limit"][0])
        return 200, {"data": people[(page - 1) * size: page * size]}
    spec = {"list": LIST, "incremental": {"cursor": "updated", "format": "iso8601"},
            "recover": {"type": "by_content", "params": {"changed_since": "{cursor}"}, "format": "unix_ms",
                        "window_seconds": 60}}
    with TinyCrm({("GET", "/v1/people"): listing}) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        found = w.find_created([op("create", op_id="o1", sent_at=sent_at)],
                               lambda raw, o: raw["name"] == o.values["name"])
        assert found == {"o1": "2"}
        assert crm.requests[0]["query"]["changed_since"] == [str(int((sent_at.timestamp() - 60) * 1000))]


def test_a_refused_lookup_stops_and_reports_instead_of_finding_nothing():
    routes = {("GET", "/v1/people"): lambda r: (400, {"message": "unknown filter changed_since"})}
    spec = {"list": LIST, "recover": {"type": "by_content", "params": {"changed_since": "{cursor}"},
                                      "format": "unix_seconds"}}
    with TinyCrm(routes) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        with pytest.raises(CrmError, match="unknown filter changed_since"):
            w.find_created([op("create")], lambda raw, o: True)


def test_lost_create_found_by_its_key_in_a_search_with_pages():
    def search(r):
        after = int(r["body"].get("after", 0))
        rows = [{"id": "8", "props": {"key": "k1"}}, {"id": "9", "props": {"key": "k2"}}][after:after + 1]
        return 200, {"results": rows, **({"paging": {"next": {"after": after + 1}}} if after == 0 else {})}
    spec = {"list": LIST, "recover": {
        "type": "by_key", "path": "v3/people/search", "key_field": "props.key",
        "paginator": {"type": "cursor", "cursor_path": "paging.next.after", "cursor_param": "after"},
        "body": {"filters": [{"propertyName": "key", "operator": "IN", "values": "{keys}"}]}}}
    with TinyCrm({("POST", "/v3/people/search"): search}) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        found = w.find_created([op("create", key="k1", op_id="a"), op("create", key="k2", op_id="b")],
                               lambda raw, o: False)
        assert found == {"a": "8", "b": "9"}
        assert crm.requests[0]["body"]["filters"][0]["values"] == ["k1", "k2"]
        assert crm.requests[1]["body"]["after"] == 1


def test_a_missing_declaration_is_named():
    with TinyCrm({}) as crm:
        w = writer_for("contact", connector({"list": LIST}), session(), crm.url)
        with pytest.raises(CrmError, match="declares no 'read_back'"):
            w.fetch(["1"])
        with pytest.raises(CrmError, match="no way to create records"):
            w.send("create", [op("create")], lambda ops: None)


def test_an_unknown_writer_type_lists_the_known_ones():
    spec = {"list": LIST, "create": {"type": "carrier_pigeon", "path": "x"}}
    w = writer_for("contact", connector(spec), session(), "http://127.0.0.1:9")
    with pytest.raises(CrmError, match="carrier_pigeon.*known: .*rest, rpc_batch"):
        w.send("create", [op("create")], lambda ops: None)
    with pytest.raises(ValueError, match="already registered"):
        register_writer("rest", lambda owner, kind, call: None)


def test_a_create_accepted_without_an_id_is_settled_as_lost_not_rejected():
    routes = {("POST", "/v1/people"): lambda r: (201, {"ok": True})}
    spec = {"list": LIST, "create": {"type": "rest", "method": "POST", "path": "v1/people", "id_path": "data.id"}}
    with TinyCrm(routes) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        [made] = w.send("create", [op("create")], lambda ops: None)
        assert made.unknown and "no id at data.id" in made.unknown and made.error is None


def test_a_search_that_indexes_late_is_asked_again_before_nothing_counts_as_not_created():
    calls = []

    def listing(r):
        calls.append(r)
        return 200, {"data": [{"id": 5, "name": "Ann"}] if len(calls) > 1 else []}
    spec = {"list": LIST, "recover": {"type": "by_content", "params": {"since": "{cursor}"}, "format": "unix_seconds",
                                      "index_delay_seconds": 0.5}}
    with TinyCrm({("GET", "/v1/people"): listing}) as crm:
        w = writer_for("contact", connector(spec), session(), crm.url)
        sent = dt.datetime.now(dt.timezone.utc)
        found = w.find_created([op("create", op_id="o1", sent_at=sent)], lambda raw, o: raw["name"] == "Ann")
        assert found == {"o1": "5"} and len(calls) == 2
        assert (dt.datetime.now(dt.timezone.utc) - sent).total_seconds() >= 0.5
