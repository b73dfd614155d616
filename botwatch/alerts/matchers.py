"""Alertmanager's label matchers: ``severity="critical"``, ``bot=~"a|b"``, ``env!="dev"``.

Used by routes, inhibit rules and silences. The syntax is the one selectors use inside
their braces (and Alertmanager's ``matchers:`` lists), so it is parsed by the rule
expression grammar: the same quoting, the same errors with a caret.
"""

from __future__ import annotations

__all__ = ["Matcher", "matches", "parse_matchers"]

from collections.abc import Mapping, Sequence

from botwatch.errors import RuleSyntaxError
from botwatch.rules.ast import Matcher, Selector
from botwatch.rules.parser import parse


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """``'a="b", c=~"d.*"'`` (braces optional) → matchers; raises ``ValueError`` saying
    what is wrong and where."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    if not body.strip():
        raise ValueError('empty matcher; write it like severity="critical"')
    probe = "_{" + body + "}"
    try:
        node = parse(probe)
    except RuleSyntaxError as e:
        # Point at the column in what the user wrote, not in our wrapping.
        column = max(1, e.column - 2)
        raise ValueError(
            f"column {column}: {e.message}\n  {body}\n  {' ' * (column - 1)}^"
        ) from None
    if not isinstance(node, Selector):  # pragma: no cover - the wrapping makes a selector
        raise ValueError(f"{text!r} is not a list of matchers")
    return node.matchers


def matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher."""
    return all(m.matches(labels) for m in matchers)
