"""YAML documents that remember where every key and item came from.

Policy authors need errors with file, line and column; PyYAML's plain loaders forget positions.
We compose the node graph, convert it to plain Python values and keep a side index from key
paths to source positions. Booleans follow YAML 1.2 (only true/false), so the country code
`NO` stays Norway, and duplicate keys are errors instead of silently overwriting each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.errors import PolicyProblem, SourceLocation

Path = tuple[str | int, ...]

_BOOL_TAG = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


@dataclass
class YamlDocument:
    """A parsed YAML file: its value and the position of every key path in it."""

    file: str
    value: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path) -> SourceLocation:
        """The closest known position to `path` (walking up to its parents)."""
        while path:
            if path in self.positions:
                line, column = self.positions[path]
                return SourceLocation(self.file, line, column)
            path = path[:-1]
        line, column = self.positions.get((), (1, 1))
        return SourceLocation(self.file, line, column)

    def problem(self, path: Path, message: str) -> PolicyProblem:
        return PolicyProblem(self.locate(path), format_path(path), message)


def format_path(path: Path) -> str:
    """Render a key path the way authors read it: `when.all[1].lexicon`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def parse_yaml(file: str, text: str) -> tuple[YamlDocument | None, list[PolicyProblem]]:
    """Parse one YAML document; on failure return the located problems instead."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        location = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else None
        reason = error.problem or error.context or "malformed YAML"
        return None, [PolicyProblem(location or SourceLocation(file), "", f"YAML syntax: {reason}")]
    except yaml.YAMLError as error:
        return None, [PolicyProblem(SourceLocation(file), "", f"YAML syntax: {error}")]
    finally:
        loader.dispose()
    document = YamlDocument(file, None)
    problems: list[PolicyProblem] = []
    if node is None:
        return None, [PolicyProblem(SourceLocation(file, 1, 1), "", "the file is empty")]
    document.value = _convert(loader, node, (), document, problems)
    return document, problems


def _convert(
    loader: _Loader,
    node: yaml.Node,
    path: Path,
    document: YamlDocument,
    problems: list[PolicyProblem],
) -> Any:
    document.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # honour `<<` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                key = str(key)
            child = (*path, key)
            if key in result:
                document.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                problems.append(document.problem(child, f"duplicate key '{key}'"))
                continue
            document.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _convert(loader, value_node, child, document, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(loader, item, (*path, index), document, problems)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)
