"""Parsing rule expressions: text → checked ``botwatch.rules.ast`` nodes.

The grammar is ``expr.lark`` (LALR, so parsing is linear and errors are exact). Lark's
errors are mapped to ``RuleSyntaxError`` with the column and what was expected in words;
a second pass checks types (a range only where a function takes one, a number where a
threshold belongs), so evaluation never meets a malformed tree.
"""

from __future__ import annotations

__all__ = ["parse", "type_of"]

import functools
import re
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from botwatch.config.units import parse_duration, parse_size
from botwatch.errors import RuleSyntaxError
from botwatch.rules.ast import (
    Aggregate,
    Binary,
    Call,
    Matcher,
    Matching,
    Node,
    Number,
    RangeSelector,
    Selector,
    String,
    Type,
    Unary,
)
from botwatch.rules.functions import OVER_TIME, SIGNATURES

_WORDS = {
    "STRING": 'a quoted string like "x"',
    "NUMBER": "a number",
    "QUANTITY": "a number",
    "DURATION": "a duration like 5m",
    "METRIC": "a series or function name",
    "LABEL": "a label name",
    "MATCH_OP": "= != =~ or !~",
    "CMP_OP": "a comparison",
    "ADD_OP": "+ or -",
    "MUL_OP": "* / or %",
    "AGG_OP": "an aggregation",
    "LPAR": "(",
    "RPAR": ")",
    "LBRACE": "{",
    "RBRACE": "}",
    "LSQB": "[",
    "RSQB": "]",
    "COMMA": ",",
    "$END": "the end",
}
_OPERAND = {"NUMBER", "QUANTITY", "METRIC", "LPAR", "STRING", "AGG_OP"}


@functools.cache
def _lark() -> Lark:
    grammar = (Path(__file__).with_name("expr.lark")).read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", maybe_placeholders=True, propagate_positions=True)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """Parse and type-check ``text``; raises ``RuleSyntaxError`` pointing at the column.

    Cached: rule files are re-read on reload and the same expressions come back.
    """
    if not text.strip():
        raise RuleSyntaxError(text, 1, "empty expression")
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(text, e) from None
    try:
        node = _Build(text).transform(tree)
    except VisitError as e:  # lark wraps what the builder raises
        if isinstance(e.orig_exc, _NodeError):
            raise RuleSyntaxError(text, e.orig_exc.column, e.orig_exc.message) from None
        raise
    if not isinstance(node, Node):  # pragma: no cover - the grammar yields nodes
        raise RuleSyntaxError(text, 1, "not an expression")
    try:
        top = type_of(node)
    except _NodeError as e:
        raise RuleSyntaxError(text, e.column, e.message) from None
    if top not in (Type.VECTOR, Type.SCALAR):
        raise RuleSyntaxError(
            text, node.column, f"a rule must give a number or series values, not {_a(top)}"
        )
    return node


def _syntax_error(text: str, e: UnexpectedInput) -> RuleSyntaxError:
    column = getattr(e, "column", 1) or 1
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        return RuleSyntaxError(text, column, f"unexpected character {ch!r}")
    expected: set[str] = set(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())
    token = getattr(e, "token", None)
    if isinstance(e, UnexpectedEOF) or (isinstance(token, Token) and token.type == "$END"):
        column = len(text.rstrip()) + 1
        found = "the end of the expression"
    else:
        found = repr(str(token)) if token is not None else "this"
    if {"METRIC", "NUMBER"} <= expected and not expected - _OPERAND - {
        "ADD_OP",
        "MATCH_KIND",
        "BOOL",
    }:
        want = "a number, a series, a function or ("
    else:
        words = sorted({_WORDS.get(t, t.lower()) for t in expected if t != "MATCH_KIND"})
        want = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    number = isinstance(e, UnexpectedToken) and token is not None and token.type == "NUMBER"
    if number and "DURATION" in expected:
        want = "a duration with a unit, like 5m"
    return RuleSyntaxError(text, column, f"expected {want}, found {found}")


class _NodeError(Exception):
    def __init__(self, column: int, message: str) -> None:
        self.column, self.message = column, message


def _col(item: Any) -> int:
    if isinstance(item, Token):
        return item.column or 1
    if isinstance(item, Node):
        return item.column
    if isinstance(item, Tree) and item.meta and not item.meta.empty:
        return item.meta.column
    return 1


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _number(token: Token) -> float:
    text = str(token)
    if token.type == "NUMBER":
        return float(text)
    if text.endswith("%"):
        return float(text[:-1]) / 100
    if text[-1] in "bB":
        return float(parse_size(text))
    return parse_duration(text)


@v_args(meta=False)
class _Build(Transformer[Token, Any]):
    """Lark tree → ast nodes (syntax only; types are checked by ``type_of``)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def number(self, items: list[Token]) -> Number:
        tok = items[0]
        return Number(_number(tok), str(tok), column=_col(tok))

    def string(self, items: list[Token]) -> String:
        return String(_unquote(items[0]), column=_col(items[0]))

    def matcher(self, items: list[Token]) -> Matcher:
        label, op, value = items
        text = _unquote(value)
        regex = None
        if str(op) in ("=~", "!~"):
            try:
                regex = re.compile(text)
            except re.error as e:
                raise _NodeError(_col(value), f"bad regular expression {text!r}: {e}") from None
        return Matcher(str(label), str(op), text, regex)

    def matchers(self, items: list[Matcher | None]) -> tuple[Matcher, ...]:
        return tuple(m for m in items if m is not None)

    def selector(self, items: list[Any]) -> Selector:
        name, matchers = items
        return Selector(str(name), matchers or (), column=_col(name))

    def range(self, items: list[Any]) -> RangeSelector:
        sel, window = items
        seconds = parse_duration(str(window))
        if seconds <= 0:
            raise _NodeError(_col(window), "a range must be longer than zero")
        return RangeSelector(sel, seconds, str(window), column=sel.column)

    def args(self, items: list[Node]) -> tuple[Node, ...]:
        return tuple(items)

    def call(self, items: list[Any]) -> Call:
        name, args = items
        return Call(str(name), args or (), column=_col(name))

    def labels(self, items: list[Token | None]) -> tuple[str, ...]:
        return tuple(str(t) for t in items if t is not None)

    def grouping(self, items: list[Any]) -> tuple[bool, tuple[str, ...]]:
        kind, labels = items
        return str(kind) == "without", labels or ()

    def matching(self, items: list[Any]) -> Matching:
        kind, labels = items
        return Matching(str(kind) == "on", labels or ())

    def aggregation(self, items: list[Any]) -> Node:
        op = items[0]
        if isinstance(items[1], tuple) and len(items[1]) == 2 and isinstance(items[1][0], bool):
            grouping, args = items[1], items[2]
        else:
            args, grouping = items[1], items[2]
        name = str(op)
        want = 2 if name == "quantile" else 1
        if len(args) != want:
            shape = "quantile(q, expr)" if want == 2 else f"{name}(expr)"
            raise _NodeError(_col(op), f"{name} takes {want} argument(s): {shape}")
        expr = args[-1]
        param = args[0] if want == 2 else None
        if isinstance(expr, RangeSelector):
            # avg(x[5m]) means avg_over_time(x[5m]).
            if grouping is not None:
                raise _NodeError(_col(op), f"{name} over a range takes no by/without")
            fn = OVER_TIME.get(name)
            if fn is None:  # pragma: no cover - OVER_TIME covers every AGG_OP
                raise _NodeError(_col(op), f"{name} cannot take a range")
            return Call(fn, (param, expr) if param is not None else (expr,), column=_col(op))
        without, labels = grouping if grouping is not None else (False, None)
        return Aggregate(name, expr, param, labels, without, column=_col(op))

    def binary(self, items: list[Any]) -> Binary:
        lhs, op, matching, rhs = items
        return Binary(str(op), lhs, rhs, matching, column=_col(op))

    def compare(self, items: list[Any]) -> Binary:
        lhs, op, bool_tok, matching, rhs = items
        return Binary(str(op), lhs, rhs, matching, bool_tok is not None, column=_col(op))

    def unary(self, items: list[Any]) -> Node:
        op, operand = items
        if str(op) == "+":
            return operand  # type: ignore[no-any-return]
        if isinstance(operand, Number):
            return Number(-operand.value, "-" + str(operand), column=_col(op))
        return Unary("-", operand, column=_col(op))


_SET_OPS = ("and", "or", "unless")
_COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")


def type_of(node: Node) -> Type:
    """The type ``node`` evaluates to; raises ``_NodeError`` where types do not fit."""
    if isinstance(node, Number):
        return Type.SCALAR
    if isinstance(node, String):
        return Type.STRING
    if isinstance(node, Selector):
        return Type.VECTOR
    if isinstance(node, RangeSelector):
        return Type.RANGE
    if isinstance(node, Unary):
        t = type_of(node.operand)
        _expect(node.operand, t, (Type.SCALAR, Type.VECTOR), "-")
        return t
    if isinstance(node, Call):
        return _call_type(node)
    if isinstance(node, Aggregate):
        _expect(node.expr, type_of(node.expr), (Type.VECTOR,), node.op)
        if node.param is not None:
            _expect(node.param, type_of(node.param), (Type.SCALAR,), f"{node.op}'s first argument")
        return Type.VECTOR
    if isinstance(node, Binary):
        lt, rt = type_of(node.lhs), type_of(node.rhs)
        _expect(node.lhs, lt, (Type.SCALAR, Type.VECTOR), node.op)
        _expect(node.rhs, rt, (Type.SCALAR, Type.VECTOR), node.op)
        if node.op in _SET_OPS and (lt is not Type.VECTOR or rt is not Type.VECTOR):
            raise _NodeError(node.column, f"{node.op} needs series values on both sides")
        if node.matching is not None and (lt is not Type.VECTOR or rt is not Type.VECTOR):
            raise _NodeError(node.column, f"{node.matching} needs series values on both sides")
        if node.bool_mode and node.op not in _COMPARISONS:  # pragma: no cover - grammar
            raise _NodeError(node.column, "bool only goes with a comparison")
        return Type.VECTOR if Type.VECTOR in (lt, rt) else Type.SCALAR
    raise _NodeError(node.column, f"unknown node {node!r}")  # pragma: no cover


def _call_type(node: Call) -> Type:
    sig = SIGNATURES.get(node.name)
    if sig is None:
        close = _close_names(node.name)
        hint = f"; did you mean {close}?" if close else ""
        raise _NodeError(node.column, f"unknown function {node.name}(){hint}")
    n, lo = len(node.args), len(sig.args) - sig.optional
    if not lo <= n <= len(sig.args):
        want = str(len(sig.args)) if not sig.optional else f"{lo} to {len(sig.args)}"
        raise _NodeError(node.column, f"{node.name}() takes {want} argument(s), got {n}")
    for arg, want_t in zip(node.args, sig.args, strict=False):
        got = type_of(arg)
        if got is not want_t:
            hint = ""
            if want_t is Type.RANGE and got is Type.VECTOR:
                hint = f", e.g. {node.name}({arg}[5m])"
            raise _NodeError(
                arg.column or node.column,
                f"{node.name}() needs {_a(want_t)} here, not {_a(got)}{hint}",
            )
    return sig.returns


def _expect(node: Node, got: Type, allowed: tuple[Type, ...], where: str) -> None:
    if got in allowed:
        return
    hint = ""
    if got is Type.RANGE:
        hint = "; wrap it in a function such as avg_over_time(...) or rate(...)"
    raise _NodeError(node.column, f"{where} cannot take {_a(got)}{hint}")


def _a(t: Type) -> str:
    return ("an " if t.value[0] in "aeiou" else "a ") + t.value


def _close_names(name: str) -> str:
    import difflib

    found = difflib.get_close_matches(name, list(SIGNATURES), n=1, cutoff=0.6)
    return found[0] if found else ""
