"""YAML documents that remember where every key and item came from.

Policy authors need errors with file, line and column; PyYAML's plain loaders forget positions.
We compose the node graph, convert it to plain Python values and keep a side index from key
paths to source positions. Booleans follow YAML 1.2 (only true/false), so the country code
`NO` stays Norway, and duplicate keys are errors instead of silently overwriting each other.

Policy files are read by `tamis check`, by hot reload and by replays of the verdict log, so a
file is refused, with file:line, before anything is built from it when it is too large, nests
too deeply, or expands through its aliases into too many nodes (ten lines of `&a [*b, *b, …]`
make billions), into too many characters (one long anchored scalar and thousands of aliases to
it: every alias stands for a full copy wherever the value is later walked, compiled or hashed),
or into itself (`&a [*a]`, a cycle).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from tamis.engine.errors import PolicyProblem, SourceLocation

Path = tuple[str | int, ...]

_BOOL_TAG = "tag:yaml.org,2002:bool"

#: Events only need the parser: libyaml's, when PyYAML has it, is ten times faster.
_EVENTS = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

#: Limits on one file: characters, nesting, and nodes once every alias is expanded.
MAX_FILE_CHARS = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 500_000
#: Characters (scalars' characters plus one per node) once every alias is expanded: this many
#: times the file's own length, or MIN_EXPANDED_CHARS for a small file, whichever is larger.
EXPANSION_FACTOR = 16
MIN_EXPANDED_CHARS = 4_000_000


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
    if len(text) > MAX_FILE_CHARS:
        message = f"the file is {len(text):,} characters long; the limit is {MAX_FILE_CHARS:,}"
        return None, [PolicyProblem(SourceLocation(file, 1, 1), "", message)]
    loader: _Loader | None = None
    try:
        shape = _shape_problem(file, text)
        if shape is not None:
            return None, [shape]
        loader = _Loader(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        location = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else None
        reason = error.problem or error.context or "malformed YAML"
        return None, [PolicyProblem(location or SourceLocation(file), "", f"YAML syntax: {reason}")]
    except yaml.reader.ReaderError as error:  # a character YAML does not allow, e.g. U+FFFF
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        reason = f"YAML syntax: character U+{error.character:04X} is not allowed in YAML"
        return None, [PolicyProblem(SourceLocation(file, line, column), "", reason)]
    except yaml.YAMLError as error:
        return None, [PolicyProblem(SourceLocation(file), "", f"YAML syntax: {error}")]
    finally:
        if loader is not None:
            loader.dispose()
    document = YamlDocument(file, None)
    problems: list[PolicyProblem] = []
    if node is None:
        return None, [PolicyProblem(SourceLocation(file, 1, 1), "", "the file is empty")]
    document.value = _convert(loader, node, (), document, problems)
    return document, problems


def _shape_problem(file: str, text: str) -> PolicyProblem | None:
    """The first limit the document breaks, read from its event stream (no node is built,
    no alias expanded): each anchor's expanded size (nodes, characters) is computed once, and
    added again at each of its aliases."""
    max_chars = max(EXPANSION_FACTOR * len(text), MIN_EXPANDED_CHARS)
    sizes: dict[str, tuple[int, int]] = {}
    open_nodes: list[list[Any]] = []  # [anchor, expanded nodes, expanded characters] per open collection
    for event in yaml.parse(text, Loader=_EVENTS):
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([event.anchor, 1, 1])
            if len(open_nodes) > MAX_DEPTH:
                return _problem_at(file, event, f"nesting deeper than {MAX_DEPTH} levels")
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, nodes, chars = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = (nodes, chars)
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, *_ in open_nodes):
                return _problem_at(file, event, f"alias *{event.anchor} refers to a node that contains it")
            nodes, chars = sizes.get(event.anchor or "", (1, 1))  # an unknown alias is the composer's error
        elif isinstance(event, yaml.ScalarEvent):
            nodes, chars = 1, 1 + len(event.value)
            if event.anchor is not None:
                sizes[event.anchor] = (nodes, chars)
        else:
            continue
        if open_nodes:
            parent = open_nodes[-1]
            parent[1] += nodes
            parent[2] += chars
            if parent[1] > MAX_NODES:
                return _problem_at(
                    file, event, f"aliases expand the document past {MAX_NODES:,} nodes (an alias bomb?)"
                )
            if parent[2] > max_chars:
                return _problem_at(
                    file,
                    event,
                    f"aliases expand the document past {max_chars:,} characters "
                    f"({EXPANSION_FACTOR} times the file, at least {MIN_EXPANDED_CHARS:,}; an alias bomb?)",
                )
    return None


def _problem_at(file: str, event: yaml.Event, message: str) -> PolicyProblem:
    mark = event.start_mark
    location = SourceLocation(file, mark.line + 1, mark.column + 1) if mark else SourceLocation(file)
    return PolicyProblem(location, "", message)


def _convert(
    loader: _Loader,
    node: yaml.Node,
    path: Path,
    document: YamlDocument,
    problems: list[PolicyProblem],
) -> Any:
    document.positions.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        try:
            loader.flatten_mapping(node)  # honour `<<` merge keys
        except yaml.YAMLError as error:  # a merge of something other than a mapping
            problems.append(_located(document, node, path, f"YAML merge: {getattr(error, 'problem', error)}"))
            return {}
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, path, document, problems)
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
    return _construct(loader, node, path, document, problems)


def _construct(
    loader: _Loader, node: yaml.Node, path: Path, document: YamlDocument, problems: list[PolicyProblem]
) -> Any:
    """A scalar's value; a value YAML cannot build (a date 2025-13-45, an unknown tag) is a
    located problem, not an exception."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError, yaml.YAMLError) as error:
        problems.append(
            _located(document, node, path, f"YAML value: {getattr(error, 'problem', None) or error}")
        )
        return None


def _located(document: YamlDocument, node: yaml.Node, path: Path, message: str) -> PolicyProblem:
    mark = node.start_mark
    return PolicyProblem(
        SourceLocation(document.file, mark.line + 1, mark.column + 1), format_path(path), message
    )
