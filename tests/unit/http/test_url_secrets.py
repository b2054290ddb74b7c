"""Webhook URL shapes and credential parameters declared by a connector: matched, shown masked, and
masked in every message and log line once the connector is loaded."""

import logging

import pytest

from crmsync.http.session import safe_url
from crmsync.http.url_secrets import ShapeError, WebhookShape, register_connector, webhook_shape
from crmsync.secrets.masking import MaskingFilter, mask

# An invented CRM whose webhook URLs put the secret in the host and a path segment.
ACORN = {
    "name": "acorn",
    "auth": [{"type": "webhook_url"}, {"type": "long_lived_token", "param": "acorn_key", "value": "{token}"}],
    "connect": {"webhook": {
        "pattern": r"https://(?P<key>[a-z0-9]{12})\.hooks\.acorn\.test/v2/(?P<team>[a-z]+)/(?P<code>[A-Za-z0-9]{16})/?",
        "secret": ["key", "code"],
        "help": "an Acorn hook URL: https://<key>.hooks.acorn.test/v2/<team>/<code>/"}},
}
URL = "https://k3y0000000aa.hooks.acorn.test/v2/sales/C0DE0000000000ZZ/"


def test_a_declared_shape_matches_whole_urls_and_shows_them_masked():
    shape = webhook_shape(ACORN)
    match = shape.match(URL)
    assert match and shape.settings(match) == {"team": "sales"}
    assert shape.secrets(match) == ["k3y0000000aa", "C0DE0000000000ZZ"]
    assert shape.masked(match) == "https://***.hooks.acorn.test/v2/sales/***/"
    assert shape.match(URL + "extra") is None and shape.match("x" + URL) is None  # the whole URL, not a part
    assert webhook_shape({"connect": {"address": "host"}}) is None


def test_once_loaded_the_shapes_secret_parts_and_its_parameter_are_masked_everywhere(tmp_path):
    register_connector(ACORN)
    line = f"POST {URL}contacts.add?acorn_key=v4lue-of-the-key&page=2 failed"
    assert safe_url(line) == "POST https://***.hooks.acorn.test/v2/sales/***/contacts.add?acorn_key=***&page=2 failed"
    assert mask(f"'{URL}'") == "'https://***.hooks.acorn.test/v2/sales/***/'"
    handler = logging.FileHandler(tmp_path / "x.log")
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("crmsync.test.url_secrets")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("calling %s", URL + "me")
    finally:
        handler.close()
        log.removeHandler(handler)
    text = (tmp_path / "x.log").read_text()
    assert "k3y0000000aa" not in text and "C0DE0000000000ZZ" not in text and "/v2/sales/***/me" in text


@pytest.mark.parametrize("block, field, words", [
    ({"secret": "code"}, "pattern", "needs a regular expression"),
    ({"pattern": "^https://x/(?P<code>.+)$", "secret": "code"}, "pattern", "leave out ^ and $"),
    ({"pattern": "https://x/(?P<code>[a-z+", "secret": "code"}, "pattern", "is not a regular expression"),
    ({"pattern": "https://x/(?P<code>.+)"}, "secret", "name the group(s)"),
    ({"pattern": "https://x/(?P<code>.+)", "secret": ["code", "token"]}, "secret", "'token' is not a named group"),
])
def test_a_shape_that_cannot_work_says_which_field_and_what_is_allowed(block, field, words):
    with pytest.raises(ShapeError) as exc:
        WebhookShape.from_block(block)
    assert exc.value.field == field and words in str(exc.value) and exc.value.allowed
    if field == "secret" and "pattern" in block:
        assert exc.value.allowed == ("code",)


def test_a_broken_shape_is_for_validate_and_connect_to_report_masking_goes_on():
    register_connector({"auth": [{"type": "webhook_url"}], "connect": {"webhook": {"pattern": "(", "secret": "x"}}})
    assert mask("GET https://h/x?access_token=abc") == "GET https://h/x?access_token=***"
