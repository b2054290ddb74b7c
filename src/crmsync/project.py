"""A crmsync project: the folder holding connectors/, mappings/, pipelines/ and config/.

Every path a run reads or writes is built from the project root, never from the current working
directory (``--project-dir`` picks the root; the default is the current folder). What a run writes
— the default DuckDB store, dlt's pipeline folders, logs, the vault key — stays inside the project.

The wheel carries a complete project as built-in defaults (the folders at the top of the source
repository); :func:`builtin_project_dir` finds it, and ``crmsync init`` copies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crmsync.errors import UserError

SPEC_DIRS = ("connectors", "mappings", "pipelines")
DEFAULT_STORE = "crmsync.duckdb"  # must differ from every dataset name (dlt/duckdb catalog clash)


def builtin_project_dir() -> Path:
    here = Path(__file__).resolve().parent
    packaged = here / "_project"
    if (packaged / "connectors").is_dir():
        return packaged
    source_tree = here.parents[1]  # src/crmsync -> repository root (editable installs)
    if (source_tree / "connectors").is_dir():
        return source_tree
    raise UserError("the built-in project files are missing from this installation; reinstall crmsync")


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def at(cls, project_dir: Path | str | None = None, *, must_exist: bool = True) -> Project:
        root = Path(project_dir or Path.cwd()).expanduser().resolve()
        if must_exist and not any((root / d).is_dir() for d in SPEC_DIRS):
            folders = ", ".join(d + "/" for d in SPEC_DIRS)
            raise UserError(f"{root} is not a crmsync project (it has none of {folders}); "
                            f"create one with `crmsync init {root}` or pass --project-dir")
        return cls(root)

    @property
    def connectors_dir(self) -> Path:
        return self.root / "connectors"

    @property
    def mappings_dir(self) -> Path:
        return self.root / "mappings"

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "pipelines"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def state_dir(self) -> Path:
        """Everything a run writes besides the store: dlt pipelines, logs, locks, the key file."""
        return self.root / ".crmsync"

    @property
    def dlt_dir(self) -> Path:
        return self.state_dir / "dlt"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def locks_dir(self) -> Path:
        return self.state_dir / "locks"

    def store_path(self, name: str = DEFAULT_STORE) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.root / path

    def relative(self, path: Path) -> str:
        """``path`` as the user would type it from the project root (for messages)."""
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)
