"""The parsed form of a rule expression: small frozen nodes, each with its column.

``parse()`` (botwatch.rules.parser) builds them and checks their types, so evaluation
never meets a range where a number belongs. ``str(node)`` prints the expression back
in canonical form (used in messages and ``botwatch rules check``).
"""

from __future__ import annotations

__all__ = [
    "Aggregate",
    "Binary",
    "Call",
    "Matcher",
    "Matching",
    "Node",
    "Number",
    "RangeSelector",
    "Selector",
    "String",
    "Type",
    "Unary",
]

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field


class Type(enum.Enum):
    """What an expression evaluates to."""

    SCALAR = "scalar"
    VECTOR = "instant vector"
    RANGE = "range vector"
    STRING = "string"


@dataclass(frozen=True)
class Node:
    """Base of every node; ``column`` is 1-based, for error carets."""

    column: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Number(Node):
    """A literal, units already applied (``5m`` is 300, ``512MB`` 512e6, ``95%`` 0.95)."""

    value: float
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.text:
            return self.text
        return repr(self.value) if not math.isinf(self.value) else str(self.value)


@dataclass(frozen=True)
class String(Node):
    """A quoted string (only as a function argument)."""

    value: str

    def __str__(self) -> str:
        return '"' + self.value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Matcher:
    """``label op "value"`` with op one of ``= != =~ !~``; regexes match whole values."""

    label: str
    op: str
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this (a missing label counts as "")."""
        got = labels.get(self.label, "")
        op = self.op
        if op == "=":
            return got == self.value
        if op == "!=":
            return got != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(got) is not None
        return found if op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.label}{self.op}{String(self.value)}"


@dataclass(frozen=True)
class Selector(Node):
    """``name{matchers}``: the newest value of each matching series (an instant vector)."""

    name: str
    matchers: tuple[Matcher, ...] = ()

    def __str__(self) -> str:
        if not self.matchers:
            return self.name
        return self.name + "{" + ", ".join(str(m) for m in self.matchers) + "}"


@dataclass(frozen=True)
class RangeSelector(Node):
    """``name{matchers}[window]``: each matching series' values in the last ``window`` s."""

    selector: Selector
    window: float
    window_text: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.selector}[{self.window_text or f'{self.window:g}s'}]"


@dataclass(frozen=True)
class Call(Node):
    """A function: ``rate(x[5m])``, ``absent(x)``, ``time()``."""

    name: str
    args: tuple[Node, ...] = ()

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"


@dataclass(frozen=True)
class Aggregate(Node):
    """``sum by (bot) (x)``: values of several series folded into one per group.

    ``param`` is quantile's q. ``labels`` is None without a grouping clause (one group).
    """

    op: str
    expr: Node
    param: Node | None = None
    labels: tuple[str, ...] | None = None
    without: bool = False

    def __str__(self) -> str:
        inner = f"{self.param}, {self.expr}" if self.param is not None else str(self.expr)
        grouping = ""
        if self.labels is not None:
            grouping = f" {'without' if self.without else 'by'} ({', '.join(self.labels)})"
        return f"{self.op}{grouping} ({inner})"


@dataclass(frozen=True)
class Matching:
    """``on (labels)`` or ``ignoring (labels)`` on a binary operation between vectors."""

    on: bool
    labels: tuple[str, ...]

    def __str__(self) -> str:
        return f"{'on' if self.on else 'ignoring'} ({', '.join(self.labels)})"


@dataclass(frozen=True)
class Binary(Node):
    """``lhs op rhs``: arithmetic, comparison (``bool`` gives 0/1) or and/or/unless."""

    op: str
    lhs: Node
    rhs: Node
    matching: Matching | None = None
    bool_mode: bool = False

    def __str__(self) -> str:
        mods = " bool" if self.bool_mode else ""
        if self.matching is not None:
            mods += f" {self.matching}"
        return f"{_wrap(self.lhs)} {self.op}{mods} {_wrap(self.rhs)}"


@dataclass(frozen=True)
class Unary(Node):
    """``-x`` (``+x`` is x)."""

    op: str
    operand: Node

    def __str__(self) -> str:
        return f"{self.op}{_wrap(self.operand)}"


def _wrap(node: Node) -> str:
    return f"({node})" if isinstance(node, Binary | Unary) else str(node)
