"""The built-in rule pack: the alerts operators' runbooks ask for, on by default.

Each rule is written once with ``{sel}`` (the bots it covers) and, where it has one,
``{threshold}``. Thresholds, ``for`` and severity can be changed for every bot under
``alerting.overrides`` and per bot under ``bots.NAME.alerts``; ``enabled: false`` turns a
rule off. A bot with its own settings gets its own copy of the rule, so every bot's
alert keeps the same name and labels whichever threshold applies to it.

Rules marked ``logs`` read series that log analysis writes (``log_*``); until a bot's
logs are analysed they have no data and stay quiet (``no_data_state: ok``).
"""

from __future__ import annotations

__all__ = ["BUILTIN", "BuiltinRule", "builtin_names", "builtin_rules"]

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botwatch.config.response import ActionSpec
from botwatch.rules.files import DEFAULT_LIMIT, Rule
from botwatch.rules.parser import parse

if TYPE_CHECKING:
    from botwatch.config import Config
    from botwatch.config.models import AlertOverride

GROUP = "botwatch.builtin"


@dataclass(frozen=True)
class BuiltinRule:
    """One rule of the pack."""

    name: str
    expr: str
    summary: str
    runbook: str
    severity: str = "warning"
    priority: str = "P3"
    threshold: float | None = None
    for_: float = 0.0
    keep_firing_for: float = 0.0
    per_bot_limit: str | None = None
    """A ``limits`` key: the rule exists only for bots that set it, ``{threshold}``
    being that limit times ``threshold``."""
    logs: bool = False
    fleet: bool = False
    """About the fleet, not one bot: ``{threshold}`` defaults to the number of bots."""
    action: str | None = None
    """Done when it fires (``restart``, ``rotate_logs``...); ``action: none`` in an
    override turns it off."""


BUILTIN: tuple[BuiltinRule, ...] = (
    BuiltinRule(
        "BotProcessDown", "process_up{{{sel}}} == 0",
        "{{ $labels.bot }}: its process is not running",
        "Check `botwatch check {{ $labels.bot }}` and the bot's last log lines; "
        "`botwatch restart {{ $labels.bot }}`.",
        severity="critical", priority="P1",
    ),
    BuiltinRule(
        "HealthUnhealthy", 'probe_status{{check="health", {sel}}} == 2',
        "{{ $labels.bot }}: health endpoint unhealthy",
        "Open the health endpoint: the failing component is named in the reason "
        "(`botwatch check {{ $labels.bot }}`).",
        severity="critical", priority="P1", for_=120.0,
    ),
    BuiltinRule(
        "HealthDegraded", 'probe_status{{check="health", {sel}}} == 1',
        "{{ $labels.bot }}: health endpoint reports DEGRADED",
        "A dependency of the bot is slow or failing; see the components in "
        "`botwatch check {{ $labels.bot }}`.",
        for_=120.0,
    ),
    BuiltinRule(
        "DependencyDown",
        "postgres_up{{{sel}}} == 0 or redis_up{{{sel}}} == 0 or mongodb_up{{{sel}}} == 0 "
        "or sqlite_up{{{sel}}} == 0",
        "{{ $labels.bot }}: dependency {{ $labels.check }} unreachable",
        "Is the database up and reachable from this host? Connection limits? "
        "Credentials rotated?",
        severity="critical", priority="P1", for_=60.0,
    ),
    BuiltinRule(
        "BotUnresponsive", "telegram_up{{{sel}}} == 0 or discord_up{{{sel}}} == 0",
        "{{ $labels.bot }}: platform API checks failing",
        "The bot cannot reach its platform or its token stopped working; see the "
        "reason in `botwatch check {{ $labels.bot }}`.",
        severity="critical", priority="P2", for_=300.0,
    ),
    BuiltinRule(
        "SlowResponses",
        'quantile_over_time(0.95, probe_duration_seconds{{check="health", {sel}}}[10m]) '
        "> {threshold}",
        "{{ $labels.bot }}: health p95 response time {{ $value | humanizeDuration }}",
        "Look for a slow dependency (database, external API) or CPU saturation.",
        threshold=5.0, for_=600.0,
    ),
    BuiltinRule(
        "HighCpu", "avg_over_time(process_cpu_percent{{{sel}}}[5m]) > {threshold}",
        "{{ $labels.bot }}: CPU at {{ $value }}% of a core",
        "A busy loop or a flood of updates? `botwatch sample {{ $labels.bot }}` shows "
        "the trend.",
        threshold=90.0, for_=600.0,
    ),
    BuiltinRule(
        "HighMemory", "avg_over_time(process_rss_bytes{{{sel}}}[5m]) > {threshold}",
        "{{ $labels.bot }}: memory near its limit ({{ $value | humanize1024 }}B)",
        "Memory is climbing toward the limit: a leak? Compare `botwatch sample` over "
        "an hour.",
        threshold=0.95, for_=600.0, per_bot_limit="memory",
    ),
    BuiltinRule(
        "RssAboveLimit", "process_rss_bytes{{{sel}}} > {threshold}",
        "{{ $labels.bot }}: memory above its limit ({{ $value | humanize1024 }}B)",
        "Past its memory limit the bot should be restarted: `botwatch restart "
        "{{ $labels.bot }}`.",
        severity="critical", priority="P2", threshold=1.0, for_=60.0, per_bot_limit="memory",
        action="restart",
    ),
    BuiltinRule(
        "FrequentRestarts", "increase(process_restarts_total{{{sel}}}[1h]) > {threshold}",
        "{{ $labels.bot }}: restarted {{ $value }} times in the last hour",
        "Crash loop: read the lines before each restart (`botwatch logs errors "
        "{{ $labels.bot }}`).",
        priority="P2", threshold=3.0,
    ),
    BuiltinRule(
        "RestartBudgetSpent", "managed_gave_up{{{sel}}} == 1",
        "{{ $labels.bot }}: crashed too often; botwatch stopped restarting it",
        "Read its output (.botwatch/logs/{{ $labels.bot }}.log), fix the cause, then "
        "`botwatch start {{ $labels.bot }}`.",
        severity="critical", priority="P1",
    ),
    BuiltinRule(
        "TelegramInvalidToken", "telegram_error_code{{{sel}}} == 401",
        "{{ $labels.bot }}: Telegram says the token is invalid (401)",
        "The token was revoked or mistyped: get the current one from @BotFather and "
        "update the bot's config.",
        severity="critical", priority="P1",
    ),
    BuiltinRule(
        "TelegramConflict", "telegram_error_code{{{sel}}} == 409",
        "{{ $labels.bot }}: two instances are running (409 Conflict)",
        "Two processes poll with the same token (an old deploy still running?). "
        "Stop the extra one.",
        severity="critical", priority="P1",
    ),
    BuiltinRule(
        "WebhookBacklog", "telegram_pending_updates{{{sel}}} > {threshold}",
        "{{ $labels.bot }}: {{ $value }} updates waiting for the webhook",
        "The webhook is not consuming updates: is the endpoint reachable and fast?",
        threshold=200.0, for_=300.0,
    ),
    BuiltinRule(
        "WebhookErrors", "telegram_webhook_last_error_age_seconds{{{sel}}} < {threshold}",
        "{{ $labels.bot }}: Telegram reported a webhook error {{ $value | humanizeDuration }} ago",
        "getWebhookInfo's last_error_message says why (`botwatch check {{ $labels.bot }}`).",
        threshold=600.0,
    ),
    BuiltinRule(
        "HeartbeatSilent",
        "time() - max_over_time(heartbeat_timestamp_seconds{{{sel}}}[1h]) > {threshold}",
        "{{ $labels.bot }}: no heartbeat for {{ $value | humanizeDuration }}",
        "The bot's event loop or gateway connection is stuck; restart it.",
        severity="critical", priority="P2", threshold=60.0,
    ),
    BuiltinRule(
        "FewerBotsOnline", "(count(process_up{{{sel}}} == 1) or vector(0)) < {threshold}",
        "fewer bots running than expected: {{ $value }}",
        "`botwatch check` lists which are down.",
        # `for` rides out botwatch's own start, before the first process samples.
        severity="critical", priority="P1", fleet=True, for_=60.0,
    ),
    BuiltinRule(
        "DiskAlmostFull", 'probe_status{{check=~"disk.*", {sel}}} == 2',
        "{{ $labels.bot }}: disk almost full",
        "Rotate or delete logs and old backups (`botwatch logs` shows the largest files).",
        severity="critical", priority="P2", for_=300.0,
    ),
    BuiltinRule(
        "LogFileTooLarge", "log_file_bytes{{{sel}}} > {threshold}",
        "{{ $labels.bot }}: log file is {{ $value | humanize1024 }}B",
        "botwatch rotates it (copy, then truncate); give the bot a size-rotating "
        "handler so it stays small.",
        threshold=100e6, action="rotate_logs",
    ),
    BuiltinRule(
        "ActionFailed", "action_failed{{{sel}}} == 1",
        "{{ $labels.bot }}: {{ $labels.action }} by {{ $labels.rule }} did not help",
        "The automatic action ran but the bot is still unhealthy (`botwatch incidents "
        "show`); look at it by hand.",
        severity="critical", priority="P1",
    ),
    BuiltinRule(
        "ErrorRatioHigh", "log_error_ratio{{{sel}}} > {threshold}",
        "{{ $labels.bot }}: {{ $value | humanizePercentage }} of requests fail",
        "`botwatch logs errors {{ $labels.bot }} --since 1h` groups the errors.",
        threshold=0.10, for_=1800.0, logs=True,
    ),
    BuiltinRule(
        "ErrorsPerHour", 'increase(log_lines_total{{level="error", {sel}}}[1h]) > {threshold}',
        "{{ $labels.bot }}: {{ $value }} errors in the last hour",
        "`botwatch logs errors {{ $labels.bot }} --since 1h` groups them.",
        threshold=100.0, logs=True,
    ),
    BuiltinRule(
        "RateLimited", "increase(log_rate_limit_events_total{{{sel}}}[1h]) > {threshold}",
        "{{ $labels.bot }}: rate limited {{ $value }} times in the last hour",
        "Sending faster than the platform allows: slow the broadcast down or batch it.",
        threshold=50.0, logs=True,
    ),
    BuiltinRule(
        "DeliveryRateLow", "delivery_success_ratio{{{sel}}} < {threshold}",
        "{{ $labels.bot }}: only {{ $value | humanizePercentage }} of messages delivered",
        "`botwatch logs delivery {{ $labels.bot }} --since 1h` shows why sends fail "
        "(blocked users are normal; rate limits and bad chat ids are not).",
        threshold=0.90, for_=600.0, logs=True,
    ),
    BuiltinRule(
        "SecretInLogs", "log_secrets_leaked{{{sel}}} > 0",
        "{{ $labels.bot }}: a {{ $labels.kind }} leaked into its logs",
        "Anyone who reads the logs can use it: rotate it now, then stop logging it "
        "(`botwatch logs secrets {{ $labels.bot }}` lists them, redacted).",
        severity="critical", priority="P2", logs=True,
    ),
    BuiltinRule(
        "ExpectedLogMissing", "log_expected_missed{{{sel}}} == 1",
        "{{ $labels.bot }}: '{{ $labels.expect }}' was not logged on schedule",
        "The scheduled job did not run or did not finish: look at the bot's log around "
        "its time (`botwatch logs tail {{ $labels.bot }}`).",
        logs=True,
    ),
)  # fmt: skip


def builtin_names() -> list[str]:
    """Every built-in rule's name."""
    return [r.name for r in BUILTIN]


def _settings(base: BuiltinRule, *layers: AlertOverride | None) -> dict[str, Any]:
    """The rule's defaults with each layer's set values over them, in order."""
    out: dict[str, Any] = {
        "enabled": True,
        "threshold": base.threshold,
        "for": base.for_,
        "severity": base.severity,
        "action": ActionSpec.model_validate(base.action) if base.action else None,
    }
    for o in layers:
        if o is not None:
            given = {"enabled": o.enabled, "threshold": o.threshold, "for": o.for_,
                     "severity": o.severity, "action": o.action}  # fmt: skip
            out.update({k: v for k, v in given.items() if v is not None})
    return out


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _bots_regex(bots: list[str]) -> str:
    return _quote("|".join(re.escape(b) for b in sorted(bots)))


def builtin_rules(config: Config) -> list[Rule]:
    """The pack as rules for ``config``: overrides applied, a copy per distinct setting."""
    alerting = config.alerting
    if not alerting.builtin:
        return []
    rules: list[Rule] = []
    for base in BUILTIN:
        fleet = alerting.overrides.get(base.name)
        if base.fleet:
            s = _settings(base, fleet)
            # Bots whose process botwatch knows how to find; the others write no process_up.
            watched = [b for b, spec in config.bots.items() if spec.run or spec.process]
            if s["enabled"] and watched:
                threshold = s["threshold"] if s["threshold"] is not None else len(watched)
                # Only watched bots write process_up: no need to name them.
                rules.append(_rule(base, 'bot!=""', threshold, s, len(config.bots)))
            continue
        default = _settings(base, fleet)
        # Bots sharing the same effective settings share one copy of the rule.
        groups: dict[tuple[Any, ...], list[str]] = {}
        for bot, spec in config.bots.items():
            s = _settings(base, fleet, spec.alerts.get(base.name))
            if not s["enabled"]:
                continue
            threshold = s["threshold"]
            if base.per_bot_limit is not None:
                limit = getattr(spec.limits, base.per_bot_limit)
                if limit is None:
                    continue
                threshold = float(limit) * float(threshold if threshold is not None else 1.0)
            key = (threshold, s["for"], s["severity"], s["action"])
            groups.setdefault(key, []).append(bot)
        default_key = (default["threshold"], default["for"], default["severity"],
                       default["action"])  # fmt: skip
        for key, bots in groups.items():
            threshold, for_, severity, action = key
            if key == default_key and base.per_bot_limit is None:
                # The usual case: every bot but the few with their own settings, without
                # a regex naming a whole fleet.
                members = set(bots)
                others = [b for b in config.bots if b not in members]
                sel = f'bot!~"{_bots_regex(others)}"' if others else 'bot!=""'
            else:
                sel = f'bot=~"{_bots_regex(bots)}"'
            settings = {"for": for_, "severity": severity, "action": action}
            rules.append(_rule(base, sel, threshold, settings, len(config.bots)))
    return rules


def _rule(
    base: BuiltinRule, sel: str, threshold: float | None, s: Mapping[str, Any], bots: int
) -> Rule:
    text = base.expr.format(sel=sel, threshold=f"{threshold:g}" if threshold is not None else "")
    action = s.get("action")
    labels = {"severity": str(s["severity"]), "priority": base.priority}
    return Rule(
        name=base.name,
        expr=parse(text),
        group=GROUP,
        file="(built-in)",
        for_=float(s["for"]),
        keep_firing_for=base.keep_firing_for,
        labels=labels,
        annotations={"summary": base.summary, "runbook": base.runbook},
        # A built-in rule has at most a few instances per bot (one per dependency or
        # check): the limit grows with the fleet instead of cutting a big one off.
        limit=max(DEFAULT_LIMIT, 10 * bots),
        source=text,
        action=action if action is not None and action.do != "none" else None,
    )
