import pytest

from crmsync.errors import UserError
from crmsync.project import builtin_project_dir
from crmsync.scaffold import GITIGNORE, init_project, project_files


def test_copies_the_builtin_project_without_placeholders_or_secrets(tmp_path):
    source = tmp_path / "builtin"
    for rel in ("connectors/a.yaml", "pipelines/a.yaml", "mappings/a/contact.yaml",
                "mappings/canonical/contact.schema.json", "config/config.toml", "config/secrets.toml",
                "config/.gitkeep", "mappings/__pycache__/x.json", "connectors/notes.txt"):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text("x: 1\n")
    assert [str(p) for p in project_files(source)] == [
        "connectors/a.yaml", "mappings/a/contact.yaml", "mappings/canonical/contact.schema.json",
        "pipelines/a.yaml", "config/config.toml"]
    result = init_project(tmp_path / "new", source=source)
    assert sorted(result.created) == sorted([*map(str, project_files(source)), ".gitignore"])
    assert not (tmp_path / "new" / "config" / "secrets.toml").exists()
    assert (tmp_path / "new" / ".gitignore").read_text().splitlines()[1:] == list(GITIGNORE)


def test_refuses_existing_specs_unless_forced_and_keeps_the_users_gitignore(tmp_path):
    target = tmp_path / "p"
    (target / "pipelines").mkdir(parents=True)
    (target / "pipelines" / "amocrm.yaml").write_text("name: mine\n")
    (target / ".gitignore").write_text("*.duckdb\nnode_modules/\n")
    with pytest.raises(UserError, match=r"already holds spec files \(pipelines/amocrm.yaml\); nothing was changed"):
        init_project(target)
    assert (target / "pipelines" / "amocrm.yaml").read_text() == "name: mine\n"
    result = init_project(target, force=True)
    assert result.overwritten == ["pipelines/amocrm.yaml"]
    lines = (target / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["*.duckdb", "node_modules/"] and lines.count("*.duckdb") == 1
    assert ".crmsync/" in lines and "config/secrets.toml" in lines


def test_a_folder_without_specs_is_fine_and_the_builtin_itself_is_refused(tmp_path):
    (tmp_path / "README.md").write_text("hello")
    init_project(tmp_path)
    assert (tmp_path / "connectors" / "amocrm.yaml").is_file()
    with pytest.raises(UserError, match="is the built-in project itself"):
        init_project(builtin_project_dir(), force=True)
