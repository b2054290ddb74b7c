"""Finding and parsing a project's spec files; each file that cannot be parsed becomes one problem."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmsync.project import Project

from .problems import Problem
from .yamlload import SpecYAMLError, load_yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI, before it joined the standard library
    import tomli as tomllib

CANONICAL_DIR = "canonical"
CANONICAL_SUFFIX = ".schema.json"


@dataclass
class SpecFile:
    path: Path
    name: str            # as shown in messages: relative to the project root
    data: Any = None     # None when it could not be parsed (its problem is already recorded)


@dataclass
class Found:
    connectors: list[SpecFile] = field(default_factory=list)
    pipelines: list[SpecFile] = field(default_factory=list)
    canonical: list[SpecFile] = field(default_factory=list)
    mapping_dirs: dict[str, list[SpecFile]] = field(default_factory=dict)   # crm folder -> its mapping files
    config: list[SpecFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def all_files(self) -> list[SpecFile]:
        mappings = [f for files in self.mapping_dirs.values() for f in files]
        return [*self.connectors, *self.pipelines, *self.canonical, *mappings, *self.config]


def discover(project: Project) -> Found:
    found = Found()

    def spec(path: Path) -> SpecFile:
        return SpecFile(path, project.relative(path))

    found.connectors = [spec(p) for p in _yaml_files(project.connectors_dir, project, found.problems)]
    found.pipelines = [spec(p) for p in _yaml_files(project.pipelines_dir, project, found.problems)]
    canonical_dir = project.mappings_dir / CANONICAL_DIR
    if canonical_dir.is_dir():
        found.canonical = [spec(p) for p in sorted(canonical_dir.glob("*" + CANONICAL_SUFFIX))]
    if project.mappings_dir.is_dir():
        for folder in sorted(p for p in project.mappings_dir.iterdir() if p.is_dir()):
            if folder.name != CANONICAL_DIR and not folder.name.startswith((".", "_")):
                found.mapping_dirs[folder.name] = [spec(p) for p in _yaml_files(folder, project, found.problems)]
    if project.config_dir.is_dir():
        found.config = [spec(p) for p in sorted(project.config_dir.glob("*.toml"))]

    for f in [*found.connectors, *found.pipelines, *(f for fs in found.mapping_dirs.values() for f in fs)]:
        f.data = _parse_yaml(f, found.problems)
    for f in found.canonical:
        f.data = _parse_json(f, found.problems)
    for f in found.config:
        _check_toml(f, found.problems)
    return found


def _yaml_files(folder: Path, project: Project, problems: list[Problem]) -> list[Path]:
    if not folder.is_dir():
        return []
    for stray in sorted(folder.glob("*.yml")):
        problems.append(Problem(project.relative(stray), None, "",
                                f"spec files end in .yaml: rename it to {stray.stem}.yaml"))
    return sorted(folder.glob("*.yaml"))


def _parse_yaml(f: SpecFile, problems: list[Problem]) -> Any:
    try:
        return load_yaml(f.path, f.name)
    except SpecYAMLError as exc:
        problems.append(exc.problem)
    except UnicodeDecodeError:
        problems.append(Problem(f.name, None, "", "is not UTF-8 text"))
    return None


def _parse_json(f: SpecFile, problems: list[Problem]) -> Any:
    # JSON is YAML: the YAML loader gives every key its line; plain json covers what YAML reads differently.
    text = f.path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(Problem(f.name, exc.lineno, "", f"not valid JSON: {exc.msg}"))
        return None
    try:
        with_lines = load_yaml(f.path, f.name)
    except SpecYAMLError as exc:
        if "given twice" in exc.problem.message:  # json.loads keeps the last one silently
            problems.append(exc.problem)
        return data
    return with_lines if with_lines == data else data


def _check_toml(f: SpecFile, problems: list[Problem]) -> None:
    try:
        f.data = tomllib.loads(f.path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        problems.append(Problem(f.name, int(match.group(1)) if match else None, "", f"not valid TOML: {message}"))
