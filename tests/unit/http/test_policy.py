"""Error rules, the CRM's words and waits, read as the shipped connectors declare them (error_body)."""

import json

import requests

from crmsync.http.error_body import ErrorBody
from crmsync.http.policy import (
    FAIL_RECORD,
    FAIL_RUN,
    REFRESH,
    RETRY,
    ErrorPolicy,
    RetryPolicy,
    crm_message,
    retry_after,
)
from crmsync.http.session import safe_url
from crmsync.http.url_secrets import register_connector
from crmsync.project import builtin_project_dir
from crmsync.specs.yamlload import load_yaml


def shipped(crm):
    return load_yaml(builtin_project_dir() / "connectors" / f"{crm}.yaml")


AMO_BODY = ErrorBody.from_spec(shipped("amocrm")["error_body"])
B24_BODY = ErrorBody.from_spec(shipped("bitrix24")["error_body"])


def response(status, body=None, headers=None, text=None):
    r = requests.Response()
    r.status_code = status
    r._content = (json.dumps(body) if body is not None else (text or "")).encode()
    r.headers.update(headers or {})
    return r


BITRIX = ErrorPolicy.from_spec([
    {"status": 401, "error": ["expired_token", "invalid_token"], "action": "refresh_token"},
    {"status": 401, "error": "NO_AUTH_FOUND", "action": "fail_run", "hint": "reconnect"},
    {"status": 400, "action": "fail_record"},
], shipped("bitrix24")["error_body"])


def test_rules_match_status_and_body_error_code():
    assert BITRIX.judge(response(401, {"error": "expired_token", "error_description": "x"})).action == REFRESH
    v = BITRIX.judge(response(401, {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}))
    assert (v.action, v.hint, v.crm_message) == (FAIL_RUN, "reconnect", "NO_AUTH_FOUND: Wrong authorization data")
    assert BITRIX.judge(response(400, {"error": "", "error_description": "Not found"})).action == FAIL_RECORD
    assert BITRIX.judge(response(503, {"error": "QUERY_LIMIT_EXCEEDED"})).action == RETRY  # fallback
    assert ErrorPolicy().judge(response(403, text="403 Forbidden")).action == FAIL_RUN


def test_crm_messages_in_the_crms_own_words():
    amo = response(400, {"title": "Bad Request", "detail": "Request validation failed",
                         "validation-errors": [{"request_id": "0", "errors": [{"path": "name"}]}]})
    assert crm_message(amo, shape=AMO_BODY).startswith("Bad Request — Request validation failed — [{")
    assert crm_message(response(400, {"error": "ERROR_CORE", "error_description": "Task title is not specified<br>"}),
                       shape=B24_BODY) == "ERROR_CORE: Task title is not specified"
    assert crm_message(response(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>")) == "502 Bad Gateway"


def test_retry_after_from_header_or_body_and_backoff_bounds():
    assert retry_after(response(429, headers={"Retry-After": "3"})) == 3.0
    assert retry_after(response(429, {"retry_after": 300}), AMO_BODY) == 300.0
    policy = RetryPolicy(initial_backoff_seconds=0.5, max_backoff_seconds=10)
    assert policy.backoff(1, 300.0) == 10  # capped
    assert all(0.25 <= policy.backoff(1, None) <= 0.5 for _ in range(50))
    assert all(5 <= policy.backoff(9, None) <= 10 for _ in range(50))


def test_safe_url_hides_webhook_codes_and_tokens():
    register_connector(shipped("bitrix24"))  # its webhook shape and its `auth` parameter
    assert safe_url("https://p.bitrix24.ru/rest/1/s3cr3t/crm.contact.list?auth=tok&start=0") == \
        "https://p.bitrix24.ru/rest/1/***/crm.contact.list?auth=***&start=0"


def test_whether_the_crm_ran_a_retried_request():
    b24 = ErrorPolicy.from_spec(shipped("bitrix24")["errors"], shipped("bitrix24")["error_body"])
    limit = b24.judge(response(503, {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}))
    assert (limit.action, limit.executed) == (RETRY, False)  # the connector says: documented as not run
    assert b24.judge(response(429, {"error": "OPERATION_TIME_LIMIT"})).executed is False  # HTTP: refused
    assert b24.judge(response(500, {"error": "INTERNAL_SERVER_ERROR"})).executed is None  # may have run
    assert ErrorPolicy().judge(response(429, {})).executed is False
    assert ErrorPolicy().judge(response(502, text="Bad Gateway")).executed is None
