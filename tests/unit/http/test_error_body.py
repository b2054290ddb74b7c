"""The generic error-body reader: a CRM's code, words, details and wait, wherever its connector says."""

import json

import requests

from crmsync.http.error_body import ErrorBody, value_at
from crmsync.http.policy import FAIL_RECORD, FAIL_RUN, RETRY, ErrorPolicy, crm_message, retry_after


def response(status, body=None, text=None, headers=None):
    r = requests.Response()
    r.status_code = status
    r._content = (json.dumps(body) if body is not None else (text or "")).encode()
    r.headers.update(headers or {})
    return r


# An invented CRM that nests everything: {"fault": {"kind": ..., "lines": [...], "fields": {...}, "wait": n}}
NESTED = {"code": "fault.kind", "message": ["fault.lines.0", "fault.lines.1"], "details": "fault.fields",
          "retry_after": "fault.wait"}
BODY = {"fault": {"kind": "TOO_BIG", "lines": ["Name is too long<br/>", "max 40"],
                  "fields": {"name": ["too long"]}, "wait": 12}}


def test_code_words_details_and_wait_at_the_declared_paths():
    shape = ErrorBody.from_spec(NESTED)
    assert shape.code_of(BODY) == "TOO_BIG"
    assert shape.words(response(400, BODY)) == 'TOO_BIG: Name is too long — max 40 — {"name": ["too long"]}'
    assert shape.wait_of(BODY) == 12.0 and retry_after(response(429, BODY), shape) == 12.0
    assert retry_after(response(429, BODY, headers={"Retry-After": "3"}), shape) == 3.0  # the header wins
    assert retry_after(response(429, BODY)) is None  # nothing declared: the body is not read for a wait


def test_what_is_missing_is_left_out_and_nothing_found_falls_back_to_the_text():
    shape = ErrorBody.from_spec(NESTED)
    assert shape.words(response(400, {"fault": {"kind": "GONE"}})) == "GONE"
    assert shape.words(response(400, {"fault": {"lines": ["only words"]}})) == "only words"
    assert shape.words(response(400, {"other": 1})) == '{"other": 1}'  # the CRM's text as it sent it
    assert shape.words(response(502, text="<html><h1>502 Bad Gateway</h1></html>")) == "502 Bad Gateway"
    assert shape.words(response(500, text="")) == "HTTP 500"
    long = "x" * 1000
    assert ErrorBody().words(response(500, text=long)) == "x" * 300


def test_a_connector_that_declares_nothing_reads_no_shape_into_the_body():
    body = {"error": "ERROR_CORE", "error_description": "x", "title": "Bad Request"}
    assert crm_message(response(400, body)) == json.dumps(body)
    assert ErrorBody().code_of(body) == ""


def test_error_rules_match_the_code_where_the_connector_says_it_is():
    rules = [{"status": 400, "error": "TOO_BIG", "action": "fail_record"},
             {"status": 400, "action": "fail_run", "hint": "look"}]
    declared = ErrorPolicy.from_spec(rules, NESTED)
    verdict = declared.judge(response(400, BODY))
    assert (verdict.action, verdict.crm_message) == (FAIL_RECORD, 'TOO_BIG: Name is too long — max 40 — '
                                                                  '{"name": ["too long"]}')
    assert declared.judge(response(400, {"fault": {"kind": "OTHER"}})).action == FAIL_RUN
    undeclared = ErrorPolicy.from_spec(rules)  # no error_body.code: a rule with `error:` never matches
    assert undeclared.judge(response(400, BODY)).action == FAIL_RUN
    assert declared.judge(response(503, text="busy")).action == RETRY


def test_value_at_walks_dicts_and_list_items():
    assert value_at({"a": [{"b": 1}]}, "a.0.b") == 1
    assert value_at({"a": [1]}, "a.5") is None and value_at({"a": 1}, "a.b") is None
    assert value_at({"1st": "x"}, "1st") == "x"
