import logging

from crmsync.http.url_secrets import register_connector
from crmsync.project import builtin_project_dir
from crmsync.secrets.masking import MaskingFilter, mask, register
from crmsync.specs.yamlload import load_yaml


def test_registered_values_and_known_shapes_are_masked():
    register_connector(load_yaml(builtin_project_dir() / "connectors" / "bitrix24.yaml"))  # its webhook URL shape
    register("s3cr3t-access-token-value")
    text = ("token s3cr3t-access-token-value; Authorization: Bearer abc.def.ghi; "
            "GET /oauth/token/?grant_type=refresh_token&client_secret=zzz&refresh_token=rrr; "
            "https://p.bitrix24.ru/rest/1/whcode123/profile; {\"access_token\": \"jjj\"}")
    masked = mask(text)
    for secret in ("s3cr3t-access-token-value", "abc.def.ghi", "zzz", "rrr", "whcode123", "jjj"):
        assert secret not in masked
    assert "grant_type=refresh_token" in masked and "/rest/1/***/profile" in masked


def test_short_values_are_not_registered_so_words_survive():
    register("ok")
    assert mask("ok, looks fine") == "ok, looks fine"


def test_logging_filter_masks_arguments_and_tracebacks(tmp_path):
    register("very-secret-refresh-1")
    path = tmp_path / "x.log"
    handler = logging.FileHandler(path)
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("crmsync.test.masking")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("refresh with %s", "very-secret-refresh-1")
        try:
            raise RuntimeError("boom very-secret-refresh-1")
        except RuntimeError:
            log.exception("failed")
    finally:
        handler.close()
        log.removeHandler(handler)
    text = path.read_text()
    assert "very-secret-refresh-1" not in text and text.count("***") >= 2 and "RuntimeError" in text
