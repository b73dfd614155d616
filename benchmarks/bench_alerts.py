"""Alert evaluation: one pass over 10,000 alert instances.

10,000 bots, each with a process that is down (``process_up == 0``, the built-in
BotProcessDown rule: 10,000 firing instances) and five minutes of CPU samples read
by HighCpu's ``avg_over_time(process_cpu_percent[5m]) > 90`` (all of them above it:
10,000 more). A pass is ``AlertEngine.tick()`` with every rule of the built-in pack
due, instances already firing (the steady state, new samples arriving between
passes), timed as the median of 20 passes.

    .venv/bin/python benchmarks/bench_alerts.py [--bots 10000] [--passes 20]

Target (issue 3): 10,000 alert instances evaluated per pass in < 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

from botwatch.alerts import AlertEngine, AlertState
from botwatch.clock import ManualClock
from botwatch.config import parse_config
from botwatch.rules import MemorySeries
from botwatch.rules.pack import builtin_rules


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bots", type=int, default=10_000)
    ap.add_argument("--passes", type=int, default=20)
    args = ap.parse_args()

    yml = "bots:\n" + "".join(
        f"  bot{i}: {{process: {{match: bot{i}.py}}}}\n" for i in range(args.bots)
    )
    t = time.perf_counter()
    config = parse_config(yml, "bench.yml", {})
    rules = builtin_rules(config)
    built = time.perf_counter() - t

    clock = ManualClock()
    mem = MemorySeries(keep=900)
    now = clock.time()
    for i in range(args.bots):
        proc = {"bot": f"bot{i}", "check": "process"}
        mem.add("process_up", proc, now, 0.0)
        cpu = {"bot": f"bot{i}"}
        for k in range(10):  # 30 s sampling over five minutes
            mem.add("process_cpu_percent", cpu, now - 30 * k, 95.0)
    engine = AlertEngine(rules, mem, clock=clock, interval=15)
    engine.tick()  # instances appear (pending)
    clock.advance(600)
    for i in range(args.bots):  # keep the data fresh at the new time
        mem.add("process_up", {"bot": f"bot{i}", "check": "process"}, clock.time(), 0.0)
        for k in range(10):
            mem.add("process_cpu_percent", {"bot": f"bot{i}"}, clock.time() - 30 * k, 95.0)
    engine.tick()  # ...and fire (HighCpu after its 10 minutes)

    proc_labels = [{"bot": f"bot{i}", "check": "process"} for i in range(args.bots)]
    cpu_labels = [{"bot": f"bot{i}"} for i in range(args.bots)]
    times = []
    for _ in range(args.passes):
        clock.advance(15)
        for proc, cpu in zip(proc_labels, cpu_labels, strict=True):  # new results arrive
            mem.add("process_up", proc, clock.time(), 0.0)
            mem.add("process_cpu_percent", cpu, clock.time(), 95.0)
        start = time.perf_counter()
        changes = engine.tick()
        times.append(time.perf_counter() - start)
        assert not changes, f"steady state expected, got {len(changes)} changes"
    firing = [a for a in engine.alerts() if a.state is AlertState.FIRING]
    by_rule: dict[str, int] = {}
    for a in firing:
        by_rule[a.rule] = by_rule.get(a.rule, 0) + 1
    cost = sorted(((rt.cost, rt.rule.name) for rt in engine.rules), reverse=True)[:3]
    med = statistics.median(times)
    print(f"bots: {args.bots}, built-in rules: {len(rules)} (built in {built * 1000:.0f} ms)")
    print(
        f"firing instances: {len(firing)} ({', '.join(f'{k} {v}' for k, v in sorted(by_rule.items()))})"
    )
    print(f"most expensive rules: {', '.join(f'{n} {c * 1000:.0f} ms' for c, n in cost)}")
    print(f"one pass, every rule due: median {med * 1000:.1f} ms, max {max(times) * 1000:.1f} ms")
    per = med / max(1, len(firing)) * 10_000
    print(f"per 10,000 instances:           {per * 1000:8.1f} ms   (target < 200 ms)")


if __name__ == "__main__":
    main()
