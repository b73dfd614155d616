"""Evaluating rules into alerts: on schedule, and as soon as the series they read change.

``AlertEngine.tick()`` evaluates every rule that is due (its group's interval) and
every rule marked by ``mark()`` since the last tick: the monitor marks the series
names each probe run wrote, so detection takes one probe interval, not a probe
interval plus an evaluation interval. Marks are coalesced per tick, so a burst of
results costs one evaluation per rule.

Evaluation failures and empty answers are decided per rule: ``no_data_state`` (the
series the rule reads have no data at all) and ``exec_err_state`` (the evaluation
failed, or returned more instances than the group's ``limit``).
"""

from __future__ import annotations

__all__ = ["AlertEngine", "ChangeSet", "RuleRuntime", "series_names", "windows"]

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from botwatch.alerts.state import Alert, Found, RuleState, Transition, fingerprint
from botwatch.clock import Clock, SystemClock
from botwatch.errors import RuleEvalError
from botwatch.rules.ast import Aggregate, Binary, Call, Node, RangeSelector, Selector, Unary
from botwatch.rules.evaluate import DEFAULT_LOOKBACK, Element, Evaluator
from botwatch.rules.files import Rule
from botwatch.rules.source import SeriesSource
from botwatch.rules.template import render
from botwatch.store.records import AlertRow

log = logging.getLogger("botwatch.alerts")

DEFAULT_INTERVAL = 30.0
EAGER_MAX_COST = 0.01
"""A rule whose evaluation takes longer (seconds) waits for its interval instead of
running on arrival: one such run holds up every check due meanwhile."""
EAGER_SHARE = 0.1
"""At most this share of real time goes to re-evaluating rules as their series arrive."""
STATE_LABEL = "botwatch_state"
"""Added to the instance a rule raises for no data or a failed evaluation
(``nodata``/``error``), when its ``no_data_state``/``exec_err_state`` is ``alerting``."""


def _walk(node: Node) -> Iterator[Node]:
    yield node
    children: tuple[Node, ...] = ()
    if isinstance(node, Binary):
        children = (node.lhs, node.rhs)
    elif isinstance(node, Unary):
        children = (node.operand,)
    elif isinstance(node, Call):
        children = node.args
    elif isinstance(node, Aggregate):
        children = (node.expr,) if node.param is None else (node.param, node.expr)
    elif isinstance(node, RangeSelector):
        children = (node.selector,)
    for c in children:
        yield from _walk(c)


def series_names(node: Node) -> frozenset[str]:
    """The series an expression reads."""
    return frozenset(n.name for n in _walk(node) if isinstance(n, Selector))


def windows(rules: Iterable[Rule], lookback: float = DEFAULT_LOOKBACK) -> dict[str, float]:
    """How far back each series the rules read must be kept: its longest range window,
    or the lookback of an instant selector."""
    need: dict[str, float] = {}
    for rule in rules:
        for n in _walk(rule.expr):
            if isinstance(n, RangeSelector):
                name, span = n.selector.name, n.window
            elif isinstance(n, Selector):
                name, span = n.name, lookback
            else:
                continue
            need[name] = max(need.get(name, 0.0), span)
    return need


@dataclass(frozen=True)
class ChangeSet:
    """Alert instances to save and ``(group, fingerprint)`` pairs to delete."""

    upserts: list[AlertRow]
    deletes: list[tuple[str, str]]

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


@dataclass
class RuleRuntime:
    """A rule with its state and schedule."""

    rule: Rule
    state: RuleState
    names: frozenset[str]
    interval: float
    next_due: float = -math.inf
    cost: float = 0.0
    """Seconds the last evaluation took (real time)."""
    ran_at: float = -math.inf
    """Real time (the engine's timer) when it last ran."""
    value_in_labels: bool = False
    """Whether the rule's labels use ``$value`` (then instance labels are never cached)."""
    label_cache: dict[int, tuple[Mapping[str, str], dict[str, str], str]] = field(
        default_factory=dict
    )

    @functools.cached_property
    def selectors(self) -> list[Selector | RangeSelector]:
        """The selectors of the rule's expression (for the no-data check)."""
        return [n for n in _walk(self.rule.expr) if isinstance(n, Selector | RangeSelector)]

    @functools.cached_property
    def key(self) -> str:
        """Stable across restarts: group, name and the expression as written."""
        digest = hashlib.sha256(self.rule.source.encode()).hexdigest()[:12]
        return f"{self.rule.group}/{self.rule.name}/{digest}"


class AlertEngine:
    """Evaluates rules against a ``SeriesSource``; tests call ``tick()`` step by step."""

    def __init__(
        self,
        rules: Sequence[Rule],
        source: SeriesSource,
        *,
        clock: Clock | None = None,
        interval: float = DEFAULT_INTERVAL,
        lookback: float = DEFAULT_LOOKBACK,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.clock = clock or SystemClock()
        self._timer = timer
        """Real time, to measure what evaluations cost (injected by tests)."""
        self.source = source
        self.evaluator = Evaluator(source, lookback=lookback)
        self.rules = [
            RuleRuntime(
                r,
                RuleState(r.name, for_=r.for_, keep_firing_for=r.keep_firing_for),
                series_names(r.expr),
                r.interval or interval,
                value_in_labels=any("$value" in v for v in r.labels.values()),
            )
            for r in rules
        ]
        self._by_name: dict[str, list[RuleRuntime]] = {}
        for rt in self.rules:
            for name in rt.names:
                self._by_name.setdefault(name, []).append(rt)
        self._marked: dict[int, RuleRuntime] = {}
        self._saved: dict[tuple[str, str], float] = {}
        self._retry = ChangeSet([], [])
        self._next_refresh = -math.inf
        self._eager_next = -math.inf
        """Real time before which no rule runs on arrival (the shared budget)."""
        self.grace_until = -math.inf
        """Until then, no data leaves alerts as they are (set by ``restore``)."""

    def mark(self, names: Iterable[str]) -> None:
        """Series ``names`` just changed: evaluate the rules reading them next tick."""
        self._marked.update(self.readers(names))

    def readers(self, names: Iterable[str]) -> dict[int, RuleRuntime]:
        """The rules reading any of ``names``, in the form ``mark_readers`` takes."""
        out: dict[int, RuleRuntime] = {}
        by_name = self._by_name
        for name in names:
            for rt in by_name.get(name, ()):
                out[id(rt)] = rt
        return out

    def mark_readers(self, readers: Mapping[int, RuleRuntime]) -> None:
        """``mark()`` with the rules already looked up by ``readers()`` (the hot path)."""
        self._marked.update(readers)

    def tick(self, now: float | None = None) -> list[Transition]:
        """Evaluate the marked rules and the ones whose interval is up.

        Evaluation on arrival is held to ``EAGER_SHARE`` of real time, per rule (a
        rule runs again only ten times its last run's cost later) and for all rules
        together (after a round of such evaluations, the next waits ten times what
        the round took): rules over a few series run on every arrival, rules over
        10,000 a few times a second, and together they never take more than a small
        share of the monitor's CPU. A rule held back stays marked for the next tick;
        one costing more than ``EAGER_MAX_COST`` a run is left to its interval.
        """
        now = self.clock.time() if now is None else now
        out: list[Transition] = []
        marked, self._marked = self._marked, {}
        real = self._timer()
        eager_ok = real >= self._eager_next
        spent = 0.0
        for rt in self.rules:
            if now >= rt.next_due:
                out += self.evaluate(rt, now)
            elif id(rt) in marked:
                if rt.cost > EAGER_MAX_COST:
                    continue  # too costly to run on every arrival: its interval will do
                if eager_ok and real - rt.ran_at >= rt.cost / EAGER_SHARE:
                    out += self.evaluate(rt, now)
                    spent += rt.cost
                else:
                    self._marked[id(rt)] = rt
        if spent:
            self._eager_next = self._timer() + spent / EAGER_SHARE
        return out

    def due_in(self, now: float | None = None) -> float:
        """Seconds until a rule is due (0 when one is marked)."""
        if self._marked:
            return 0.0
        now = self.clock.time() if now is None else now
        return max(0.0, min((rt.next_due for rt in self.rules), default=math.inf) - now)

    def evaluate(self, rt: RuleRuntime, now: float) -> list[Transition]:
        """Evaluate one rule at ``now`` and move its instances."""
        rt.next_due = now + rt.interval
        rt.ran_at = started = self._timer()
        try:
            return self._evaluate(rt, now)
        finally:
            rt.cost = self._timer() - started

    def _evaluate(self, rt: RuleRuntime, now: float) -> list[Transition]:
        rule, state = rt.rule, rt.state
        try:
            value = self.evaluator.evaluate(rule.expr, now)
            if isinstance(value, float):
                # A number: true when not zero (scalar comparisons give 1 or 0).
                value = [] if value == 0 or math.isnan(value) else [Element(None, {}, value, now)]
            if len(value) > rule.limit:
                raise RuleEvalError(
                    f"{len(value)} alert instances exceed the group's limit of {rule.limit}"
                )
            found = self._found(rt, value)
        except RuleEvalError as e:
            return self._failed(rt, now, str(e))
        if not found and not self._has_data(rt, now):
            state.health, state.last_error = "nodata", None
            if rule.no_data_state == "nodata" or now < self.grace_until:
                # Just restarted: the data is on its way, not gone. Resolving restored
                # alerts for want of it would send "resolved" and then "firing" again.
                state.last_eval = now
                return []  # unknown: leave every instance as it is
            if rule.no_data_state == "alerting":
                return state.apply(now, self._synthetic(rule, "nodata", now))
            return state.apply(now, {})
        state.health, state.last_error = "ok", None
        return state.apply(now, found)

    def _failed(self, rt: RuleRuntime, now: float, error: str) -> list[Transition]:
        rule, state = rt.rule, rt.state
        if state.health != "error" or state.last_error != error:
            log.warning("rule %s (%s) failed: %s", rule.name, rule.file, error)
        state.health, state.last_error = "error", error
        if rule.exec_err_state == "alerting":
            return state.apply(now, self._synthetic(rule, "error", now))
        if rule.exec_err_state == "ok":
            return state.apply(now, {})
        state.last_eval = now
        return []  # keep what was firing firing: a broken rule is no all-clear

    def _found(self, rt: RuleRuntime, vector: list[Element]) -> dict[str, Found]:
        rule, alive = rt.rule, rt.state.alerts
        found: dict[str, Found] = {}
        # An instance's labels and fingerprint depend only on its series' labels (unless
        # the rule's labels use $value), and a series keeps its labels dict from pass to
        # pass: worked out once per series, not hashed again every evaluation.
        cache = rt.label_cache
        if len(cache) > 2 * len(vector) + 1000:
            cache.clear()
        for e in vector:
            hit = cache.get(id(e.labels))
            if hit is not None and hit[0] is e.labels:
                labels, fp = hit[1], hit[2]
            else:
                base = dict(e.labels)
                labels = {**base, **{k: render(v, base, e.value) for k, v in rule.labels.items()}}
                labels["alertname"] = rule.name
                fp = fingerprint(labels)
                if not rt.value_in_labels:
                    cache[id(e.labels)] = (e.labels, labels, fp)
            if fp in found:
                raise RuleEvalError(
                    "two series have the same labels once the rule's labels are added: "
                    + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
                )
            before = alive.get(fp)
            if before is not None and before.value == e.value:
                notes = before.annotations  # same labels, same value: same text
            else:
                notes = {k: render(v, labels, e.value) for k, v in rule.annotations.items()}
            found[fp] = Found(labels, e.value, notes)
        return found

    def _synthetic(self, rule: Rule, why: str, now: float) -> dict[str, Found]:
        labels = {**rule.labels, "alertname": rule.name, STATE_LABEL: why}
        notes = {k: render(v, labels, math.nan) for k, v in rule.annotations.items()}
        return {fingerprint(labels): Found(labels, math.nan, notes)}

    def _has_data(self, rt: RuleRuntime, now: float) -> bool:
        """Whether any series the rule reads has a value in its window."""
        lookback = self.evaluator.lookback
        if not rt.selectors:
            return True
        for n in rt.selectors:
            if isinstance(n, RangeSelector):
                sel, start = n.selector, now - n.window
                if next(iter(self.source.window(sel.name, sel.matchers, start, now)), None):
                    return True
            elif next(iter(self.source.newest(n.name, n.matchers, now - lookback, now)), None):
                return True
        return False

    def alerts(self) -> list[Alert]:
        """Every live instance (pending and firing) of every rule."""
        return [a for rt in self.rules for a in rt.state.alerts.values()]

    def rule_of(self, alert: Alert) -> Rule | None:
        """The rule (the copy of it) whose instance ``alert`` is, if it is still live
        or was live at the last evaluation."""
        for rt in self.rules:
            if rt.rule.name == alert.rule and alert.fingerprint in rt.state.alerts:
                return rt.rule
        return None

    # ---- persistence ------------------------------------------------------------

    def changes(self, now: float | None = None, *, refresh: float = 60.0) -> ChangeSet:
        """What to write to the store since the last call: instances to save, and
        ``(group, fingerprint)`` pairs to delete.

        Beyond state changes, a live instance is saved again once ``refresh`` seconds
        have passed since it was, so its value and ``keep_firing_for`` clock survive
        a restart to within that much.
        """
        now = self.clock.time() if now is None else now
        upserts: list[AlertRow] = []
        deletes: list[tuple[str, str]] = []
        retry, self._retry = self._retry, ChangeSet([], [])
        # Called every step: look only at what changed, and at every live instance
        # (for the refresh) only a few times per ``refresh``.
        scan = now >= self._next_refresh
        if scan:
            self._next_refresh = now + refresh / 4
        for rt in self.rules:
            group, state = rt.rule.group, rt.state
            if not scan and not state.changed:
                continue
            candidates = (
                state.alerts.items()
                if scan
                else [(fp, state.alerts[fp]) for fp in state.changed if fp in state.alerts]
            )
            for fp, a in candidates:
                if fp in state.changed or now - self._saved.get((group, fp), -math.inf) >= refresh:
                    data = {**a.to_dict(), "rule_key": rt.key}
                    upserts.append(AlertRow(group, fp, a.rule, a.state.value, now, data))
                    self._saved[(group, fp)] = now
            for fp in state.changed:
                if fp not in state.alerts:
                    deletes.append((group, fp))
                    self._saved.pop((group, fp), None)
            state.changed.clear()
        if retry:
            # What a failed save held, unless something newer replaces it.
            fresh = {(r.group, r.fingerprint) for r in upserts} | set(deletes)
            upserts = [r for r in retry.upserts if (r.group, r.fingerprint) not in fresh] + upserts
            deletes = [k for k in retry.deletes if k not in fresh] + deletes
        return ChangeSet(upserts, deletes)

    def unsaved(self, upserts: Sequence[AlertRow], deletes: Sequence[tuple[str, str]]) -> None:
        """A save of ``changes()`` failed: hand them out again with the next changes."""
        self._retry = ChangeSet(
            list(upserts) + self._retry.upserts, list(deletes) + self._retry.deletes
        )

    def restore(self, rows: Iterable[AlertRow], *, grace: float = 0.0) -> list[tuple[str, str]]:
        """Take back instances saved before a restart; returns the keys of saved ones
        whose rule no longer exists (to delete). For ``grace`` seconds a rule whose
        series have no data yet leaves its alerts as they are (the first results after
        a restart take a probe interval to arrive)."""
        self.grace_until = self.clock.time() + grace
        # By the rule's own key first: one group may hold several rules of one name (the
        # built-in pack's per-bot copies), and an alert belongs to the one that raised it.
        by_key = {rt.key: rt for rt in self.rules}
        by_rule = {(rt.rule.group, rt.rule.name): rt for rt in reversed(self.rules)}
        orphans = []
        for row in rows:
            rt = by_key.get(str(row.data.get("rule_key")))
            if rt is None:
                rt = by_rule.get((row.group, row.rule))
            if rt is None:
                orphans.append((row.group, row.fingerprint))
                continue
            alert = Alert.from_dict(row.data)
            rt.state.alerts[alert.fingerprint] = alert
            self._saved[(row.group, alert.fingerprint)] = row.updated
        return orphans
