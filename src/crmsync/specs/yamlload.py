"""YAML that remembers where each value came from, so every problem can name its line.

Mappings load as :class:`LineDict` and sequences as :class:`LineList`; both behave as ``dict`` and
``list`` (JSON Schema validation and plain code see no difference) and record the 1-based line of
each key or item. Anchors and merge keys (``<<: *defaults``) work as usual; a key written twice in
one mapping is an error, not a silent overwrite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .problems import Problem


class LineDict(dict):
    line: int = 0
    lines: dict[Any, int]


class LineList(list):
    line: int = 0
    lines: list[int]


class SpecYAMLError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    # Keys written here may override keys merged in with "<<: *anchor"; only a key written twice
    # *here* is an error.
    local = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.lines = {}
    seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if id(key_node) in local:
            if key in seen:
                raise SpecYAMLError(Problem(loader.name, line, str(key),
                                            f"key {key!r} is given twice (first on line {seen[key]})"))
            seen[key] = line
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = line
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


# libyaml's parser (when PyYAML was built with it) is ~10x faster than the pure-Python one, and every
# run parses the whole project's specs before its first request. Its nodes carry the same marks, so
# the lines are the same; a document it cannot parse is parsed again by the pure-Python loader,
# whose messages are the ones users (and tests) see.
_FastLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        pass

for _cls in (_Loader, _FastLoader):
    if _cls is not None:
        _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
        _cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path, display_name: str | None = None) -> Any:
    """Parse ``path``; a syntax error becomes a :class:`SpecYAMLError` naming file and line."""
    name = display_name or str(path)
    text = path.read_text(encoding="utf-8")
    return loads(text, name)


def loads(text: str, name: str = "<string>") -> Any:
    if _FastLoader is not None:
        try:
            return _parse(_FastLoader, text, name)
        except yaml.YAMLError:
            pass  # the pure-Python loader below says what is wrong, in its own words
    try:
        return _parse(_Loader, text, name)
    except SpecYAMLError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecYAMLError(Problem(name, line, "", f"not valid YAML: {exc.problem or exc}")) from None
    except yaml.YAMLError as exc:
        raise SpecYAMLError(Problem(name, None, "", f"not valid YAML: {exc}")) from None


def _parse(cls: type, text: str, name: str) -> Any:
    loader = cls(text)
    loader.name = name
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def line_of(data: Any, path: tuple[Any, ...] | list[Any]) -> int | None:
    """The line of the deepest part of ``path`` that the loaded document knows about."""
    node, line = data, getattr(data, "line", None)
    for part in path:
        if isinstance(node, LineDict) and part in node:
            line = node.lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line
