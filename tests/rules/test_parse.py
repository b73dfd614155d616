"""The expression language's syntax: what parses, how it prints, and where errors point."""

from __future__ import annotations

import pytest

from botwatch.errors import RuleSyntaxError
from botwatch.rules import parse
from botwatch.rules.ast import Aggregate, Binary, Call, Number, RangeSelector, Selector


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("probe_up == 0", "probe_up == 0"),
        ('probe_up{bot="a",check=~"h.*"}', 'probe_up{bot="a", check=~"h.*"}'),
        ("a and b or c unless d", "(a and b) or (c unless d)"),
        ("1 + 2 * 3", "1 + (2 * 3)"),
        ("-2^2", "-(2 ^ 2)"),
        ("2 ^ 3 ^ 2", "2 ^ (3 ^ 2)"),
        ("sum(x) by (bot)", "sum by (bot) (x)"),
        ("count without (check) (x)", "count without (check) (x)"),
        ("max(x[5m])", "max_over_time(x[5m])"),  # the runbooks' short form
        ("quantile(0.95, latency[10m]) > 5s", "quantile_over_time(0.95, latency[10m]) > 5s"),
        ("a / on(bot) b", "a / on (bot) b"),
        ("a > bool ignoring(check) b", "a > bool ignoring (check) b"),
        ("x{a='it\\'s'}", 'x{a="it\'s"}'),
        ("andromeda + order_total", "andromeda + order_total"),  # keywords inside names
        ("x # a comment", "x"),
    ],
)
def test_parses_and_prints_canonically(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2s", 2.0),
        ("250ms", 0.25),
        ("1h30m", 5400.0),
        ("512MB", 512e6),
        ("1GiB", 2.0**30),
        ("95%", 0.95),
        ("1e3", 1000.0),
        ("-5", -5.0),
    ],
)
def test_units_become_plain_numbers(text: str, value: float) -> None:
    node = parse(text)
    assert isinstance(node, Number) and node.value == pytest.approx(value)


def test_tree_shape() -> None:
    node = parse('avg_over_time(process_cpu_percent{bot="a"}[5m]) > 90')
    assert isinstance(node, Binary) and node.op == ">"
    call = node.lhs
    assert isinstance(call, Call) and call.name == "avg_over_time"
    rng = call.args[0]
    assert isinstance(rng, RangeSelector) and rng.window == 300.0
    assert rng.selector == Selector("process_cpu_percent", rng.selector.matchers)
    agg = parse("sum by (bot) (probe_up)")
    assert isinstance(agg, Aggregate) and agg.labels == ("bot",) and not agg.without


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("x{bot=}", 7, 'expected a quoted string like "x"'),
        ('x{bot="a"', 10, "expected , or }, found the end of the expression"),
        ("5 +", 4, "expected a number, a series, a function or ("),
        ("x[5]", 3, "expected a duration with a unit, like 5m"),
        ("rate(x)", 6, "rate() needs a range vector here, not an instant vector, e.g. rate(x[5m])"),
        ("x[5m] > 1", 1, "wrap it in a function such as avg_over_time(...) or rate(...)"),
        ("rat(x[5m])", 1, "unknown function rat(); did you mean rate?"),
        ('x{a=~"("}', 6, "bad regular expression '('"),
        ("sum by (bot) (x[5m])", 1, "sum over a range takes no by/without"),
        ("1 and 2", 3, "and needs series values on both sides"),
        ("x @ 5", 3, "unexpected character '@'"),
        ("x[5m]", 1, "a rule must give a number or series values, not a range vector"),
        ("clamp_max(x)", 1, "clamp_max() takes 2 argument(s), got 1"),
        ("quantile(x)", 1, "quantile takes 2 argument(s): quantile(q, expr)"),
        ("   ", 1, "empty expression"),
    ],
)
def test_errors_point_at_the_column(text: str, column: int, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse(text)
    e = info.value
    assert e.column == column
    assert message in e.message
    # The message shows the expression with a caret under the column.
    lines = str(e).splitlines()
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * (column - 1) + "^"
