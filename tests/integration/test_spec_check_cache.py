"""The spec-check cache (``.crmsync/cache/spec-checks.json``, issue 18) is only an optimisation:
unchanged files are not validated again, an edit that breaks a file (or a file it depends on) is
still caught with its file and line, and deleting or corrupting the cache changes no result."""

import crmsync.specs.project_specs as project_specs
from crmsync import mapping as mapping_module
from crmsync.specs.check_cache import CACHE_FILE
from crmsync.specs.project_specs import load_specs
from tests.integration.test_validate_cli import crmsync
from tests.unit.specs.project_fixture import edit, make_project


def _cache(project):
    return project.state_dir / "cache" / CACHE_FILE


def _validate(project):
    r = crmsync("validate", "--project-dir", str(project.root))
    return r.returncode, r.stdout


def _counting(monkeypatch):
    calls = {"check": 0, "mapping": 0}
    check, validate_mapping = project_specs.check, mapping_module.validate_mapping

    def counted_check(*a, **k):
        calls["check"] += 1
        return check(*a, **k)

    def counted_mapping(*a, **k):
        calls["mapping"] += 1
        return validate_mapping(*a, **k)

    monkeypatch.setattr(project_specs, "check", counted_check)
    monkeypatch.setattr(mapping_module, "validate_mapping", counted_mapping)
    return calls


def test_unchanged_files_are_not_checked_again_and_a_changed_one_is(tmp_path, monkeypatch):
    project = make_project(tmp_path / "p")
    calls = _counting(monkeypatch)
    first = load_specs(project)
    assert first.ok and calls["check"] > 0 and calls["mapping"] > 0
    assert _cache(project).is_file()

    calls.update(check=0, mapping=0)
    again = load_specs(project)
    assert again.ok and calls == {"check": 0, "mapping": 0}
    assert again.connectors == first.connectors and again.pipelines == first.pipelines
    assert again.mappings == first.mappings and again.canonical == first.canonical

    edit(project, "pipelines/amocrm.yaml", "direction: both", "direction: pull")
    load_specs(project)
    assert calls == {"check": 1, "mapping": 0}   # that pipeline only


def test_a_breaking_edit_is_caught_with_file_and_line_after_a_green_run(tmp_path):
    project = make_project(tmp_path / "p")
    assert _validate(project)[0] == 0 and _cache(project).is_file()
    line = edit(project, "connectors/bitrix24.yaml", "  type: keyset_batch", "  type: pages")
    code, out = _validate(project)
    assert code == 2
    assert f"connectors/bitrix24.yaml:{line}: paginator.type: 'pages' is not one of the known types" in out
    # A mapping file that did not change is checked again when a canonical schema it reads changed.
    edit(project, "mappings/canonical/contact.schema.json", '"position": {', '"job_title": {')
    code, out = _validate(project)
    assert code == 2 and "mappings/amocrm/contact.yaml:40: fields.position: contact has no field 'position'" in out
    # Still caught on the next run: only passes are remembered.
    assert _validate(project) == (code, out)


def test_deleting_or_corrupting_the_cache_changes_nothing(tmp_path):
    project = make_project(tmp_path / "p")
    edit(project, "pipelines/bitrix24.yaml", "direction: both", "direction: puhs")
    cold = _validate(project)
    assert cold[0] == 2 and "direction: 'puhs' is not allowed" in cold[1]
    warm = _validate(project)
    _cache(project).unlink()
    deleted = _validate(project)
    _cache(project).write_text("{not json")
    corrupt = _validate(project)
    _cache(project).write_text('{"passed": 7}')
    wrong_shape = _validate(project)
    assert cold == warm == deleted == corrupt == wrong_shape


def test_a_transform_registered_in_the_process_is_part_of_the_key(tmp_path, monkeypatch):
    from crmsync.mapping import registry
    from crmsync.mapping.transforms.casts import Text
    from crmsync.specs.check_cache import CheckCache

    project = make_project(tmp_path / "p")
    before = CheckCache(project).key("mapping", [b"same text"])
    monkeypatch.setitem(registry._TRANSFORMS, "text", type("OtherText", (Text,), {}))
    assert CheckCache(project).key("mapping", [b"same text"]) != before
