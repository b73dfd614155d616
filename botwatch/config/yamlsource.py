"""YAML reading that remembers where every key came from.

PyYAML's ``safe_load`` forgets line numbers, but every error botwatch reports must name
the file, line and key. We compose the node tree, then build plain Python data while
recording the line of each path, so a pydantic error at ``bots.x.health`` can point at
the exact line. ``${VAR}`` interpolation happens here too, so a missing variable is
reported at the line that uses it.
"""

from __future__ import annotations

__all__ = ["Located", "load_yaml"]

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from botwatch.config.interpolate import MissingVariable, interpolate
from botwatch.errors import ConfigError, ConfigIssue

Path = tuple[str | int, ...]


@dataclass
class Located:
    """Plain data parsed from YAML plus the line (1-based) of every path in it."""

    data: Any
    file: str
    lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:n]))
            if line is not None:
                return line
        return None


def dotted(path: Path) -> str:
    """``("bots", "x", "logs", 0)`` → ``bots.x.logs[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class _Builder:
    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env
        self.lines: dict[Path, int] = {}
        self.issues: list[ConfigIssue] = []
        self.scalars = SafeConstructor()

    def issue(self, node: yaml.Node, path: Path, message: str) -> None:
        self.issues.append(ConfigIssue(self.file, node.start_mark.line + 1, dotted(path), message))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            self.scalars.flatten_mapping(node)  # resolves YAML merge keys (<<: *anchor)
            for key_node, value_node in node.value:
                key = self.scalars.construct_object(key_node)
                if not isinstance(key, str | int | float | bool):
                    self.issue(key_node, path, "mapping keys must be plain text")
                    continue
                key = str(key)
                if key in out:
                    self.issue(key_node, (*path, key), "this key appears twice in the mapping")
                    continue
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*path, key))
                # The key's own line is the useful one for errors about the value too.
                self.lines[(*path, key)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.scalars.construct_object(node)
        if isinstance(value, str) and "$" in value:
            try:
                return interpolate(value, self.env)
            except MissingVariable as e:
                self.issue(node, path, str(e))
                return value
        return value


def load_yaml(text: str, file: str, env: Mapping[str, str]) -> Located:
    """Parse ``text`` (from ``file``) into plain data with line numbers.

    Raises ``ConfigError`` for YAML syntax errors, duplicate keys and missing
    environment variables — all of them at once, each naming file, line and key.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(x for x in (e.context, e.problem) if x)
        raise ConfigError([ConfigIssue(file, line, "", f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as e:
        raise ConfigError([ConfigIssue(file, None, "", f"invalid YAML: {e}")]) from None
    if root is None:
        return Located({}, file, {})
    builder = _Builder(file, env)
    try:
        data = builder.build(root, ())
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise ConfigError(
            [ConfigIssue(file, mark.line + 1 if mark else None, "", f"invalid YAML: {e.problem}")]
        ) from None
    if builder.issues:
        raise ConfigError(builder.issues)
    return Located(data, file, builder.lines)
