"""Parse the reports file's YAML safely: bounded, with every structural problem named at once.

What plain `yaml.safe_load` lets through, and what this refuses or changes:

- Anchors and aliases are fine (`<<: *defaults` shares settings), but the document they expand to
  is bounded (`MAX_NODES` nodes, `MAX_DEPTH` levels) and may not contain itself: a "billion
  laughs" file fails in milliseconds instead of eating memory when it is validated or hashed.
- Duplicate keys are refused (YAML would keep the last one silently).
- A key must be a plain value: `? [a, b]` or an unquoted `{{week_start}}` used as a value (which
  YAML reads as a mapping *key*) is named, instead of crashing on an unhashable key.
- Dates are not converted: `2026-03-01` stays the text `"2026-03-01"`, so a date under
  `parameters` reaches AMC exactly as written and `start_date` is parsed by the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from amc_reports.config.errors import ConfigError, located
from amc_reports.config.files import UnreadableFile, read_utf8

MAX_FILE_BYTES = 5 * 1024 * 1024  # a 1,000-report config is about 0.3 MB
MAX_NODES = 200_000  # after expanding aliases; the same 1,000-report config is about 20,000
MAX_DEPTH = 40  # the schema itself is 6 levels deep
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_STR_TAG = "tag:yaml.org,2002:str"


# libyaml's parser when PyYAML has it: ten times faster on a 1,000-report file, and it caps
# nesting at 1,000 levels itself.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """The safe loader without implicit timestamps (dates stay text, exactly as written)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}


def read_document(path: Path) -> Any:
    """The reports file as plain Python data; ConfigError (naming the file) if it is unusable."""
    try:
        text = read_utf8(path, max_bytes=MAX_FILE_BYTES)
    except UnreadableFile as exc:
        hint = ""
        if str(exc) == "does not exist":
            hint = " (set AMC_REPORTS_CONFIG to point at your reports file)"
        raise ConfigError(path, [f"the reports file {exc}{hint}"]) from None
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # characters YAML does not allow (NUL, most controls)
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        problems = _structure_problems(node, loader)
        if problems:
            raise ConfigError(path, problems)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"not valid YAML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(path, ["not valid YAML: nested too deeply"]) from None
    finally:
        loader.dispose()


def _structure_problems(root: Node, loader: _Loader) -> list[str]:
    """Duplicate and non-scalar keys, self-containing aliases, and the expanded size and depth.

    An iterative depth-first walk that visits each node once (aliases are the same node object),
    so its cost is the size of the file, not of the expansion.
    """
    problems: list[str] = []
    expanded: dict[int, int] = {}  # id(node) -> node count once aliases are expanded
    depth_of: dict[int, int] = {}
    on_path: set[int] = set()
    # Frames: (node, path of keys, children still to visit, count so far, deepest child so far).
    stack: list[list[Any]] = []

    def enter(node: Node, path: tuple[Any, ...]) -> str | None:
        if id(node) in on_path:
            return located(
                path, f"line {node.start_mark.line + 1}: an alias refers to a node containing it"
            )
        if len(stack) >= MAX_DEPTH:
            return located(path, f"nested deeper than {MAX_DEPTH} levels")
        on_path.add(id(node))
        stack.append([node, path, _children(node, path, loader, problems), 1, 0])
        return None

    fatal = enter(root, ())
    while stack and fatal is None:
        frame = stack[-1]
        node, path, children, count, deepest = frame
        if children:
            child, child_path = children.pop()
            if id(child) not in expanded:
                fatal = enter(child, child_path)
            elif len(stack) + depth_of[id(child)] > MAX_DEPTH:
                fatal = located(child_path, f"nested deeper than {MAX_DEPTH} levels")
            else:
                frame[3] += expanded[id(child)]
                frame[4] = max(deepest, depth_of[id(child)])
            continue
        stack.pop()
        on_path.discard(id(node))
        expanded[id(node)], depth_of[id(node)] = count, deepest + 1
        if count > MAX_NODES:
            fatal = located(
                path,
                f"line {node.start_mark.line + 1}: expands to more than {MAX_NODES:,} values "
                "(anchors and aliases nested too deep?)",
            )
        elif stack:
            stack[-1][3] += count
            stack[-1][4] = max(stack[-1][4], deepest + 1)
    return [*problems, fatal] if fatal else problems


def _children(
    node: Node, path: tuple[Any, ...], loader: _Loader, problems: list[str]
) -> list[tuple[Node, tuple[Any, ...]]]:
    if isinstance(node, SequenceNode):
        return [(item, (*path, index)) for index, item in enumerate(node.value)]
    if not isinstance(node, MappingNode):
        return []
    children = []
    seen: dict[Any, int] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, ScalarNode):
            kind = "mapping" if isinstance(key_node, MappingNode) else "list"
            hint = ""
            if isinstance(key_node, MappingNode) and key_node.flow_style:
                hint = ' (quote values that start with "{", e.g. "{{week_start}}")'
            problems.append(
                located(path, f"line {line}: a key must be a plain name, not a {kind}{hint}")
            )
            continue
        if key_node.tag == _MERGE_TAG:
            children.append((value_node, path))
            continue
        key = key_node.value if key_node.tag == _STR_TAG else loader.construct_object(key_node)
        if key in seen:
            problems.append(
                located(
                    path,
                    f"duplicate key {key!r} (first at line {seen[key]}, again at line {line})",
                )
            )
        seen.setdefault(key, line)
        children.append((value_node, (*path, key)))
    return children
