"""YAML with line numbers: find where a key path sits in the file, refuse duplicate keys.

`yaml.safe_load` forgets positions; composing the node tree keeps them, so a validation error on
`cameras[1].target_fps` can point at `site.yaml:14`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KeyPath = Sequence[str | int]


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any
    root: yaml.Node | None

    def line_of(self, key_path: KeyPath) -> int | None:
        """1-based line of the deepest node along `key_path` that exists in the file."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for key in key_path:
            child = _child(node, key)
            if child is None:
                break
            node, line = child, child.start_mark.line + 1
        return line


def format_key_path(key_path: KeyPath) -> str:
    """('cameras', 1, 'target_fps') -> 'cameras[1].target_fps'."""
    text = ""
    for key in key_path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


class YamlSyntaxError(ValueError):
    def __init__(self, path: Path, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")


def load_yaml(path: Path) -> YamlDocument:
    """Parse `path` with the safe loader, keeping node positions. Raises YamlSyntaxError."""
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlSyntaxError(path, line, f"invalid YAML: {error.problem}") from error
    if root is not None:
        _refuse_duplicate_keys(path, root)
    return YamlDocument(path, data, root)


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key:
                # A key whose value is empty points at the key's own line.
                return value_node if value_node.value not in ("", None) else key_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        child: yaml.Node = node.value[key]
        return child
    return None


def _refuse_duplicate_keys(path: Path, node: yaml.Node) -> None:
    """YAML allows a repeated key and keeps the last one: a silent edit loss. Refuse it."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise YamlSyntaxError(
                    path,
                    line,
                    f"key '{key_node.value}' appears twice (first on line {seen[key_node.value]}); keep one",
                )
            seen[key_node.value] = line
            _refuse_duplicate_keys(path, value_node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item)
