"""Health endpoint turns 503 → firing notification at a webhook: botwatch vs a
Prometheus + blackbox exporter + Alertmanager stack, side by side in the same run.

One loopback health endpoint; both stacks probe it every second, alert with ``for: 0``
and notify a webhook with ``group_wait: 0``. Each trial flips the endpoint to 503 and
times how long until each stack's firing notification arrives (the flip lands at a
random moment of the 1 s probe cycle), then flips it back and waits for both
resolutions. At the end it prints the medians, their ratio, and the
resident memory of botwatch against the three processes of the other stack.

    apt-get install prometheus prometheus-alertmanager prometheus-blackbox-exporter
    .venv/bin/python benchmarks/bench_notify.py [--trials 10]

Target (issue 3): median ≤ 0.7 s (the stack measured here: ≈ 1.3 s), with botwatch's
RSS under half of the stack's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_ports

from botwatch.fakes.receivers import FakeWebhook

STACK = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")


class Endpoint:
    """The health endpoint both stacks watch."""

    def __init__(self) -> None:
        self.down = False

    async def handle(self, request: web.Request) -> web.Response:
        if self.down:
            return web.json_response({"status": "UNHEALTHY"}, status=503)
        return web.json_response({"status": "HEALTHY"})


def write_botwatch(d: Path, health: str, hook: str) -> None:
    (d / "botwatch.yml").write_text(f"""\
storage: sqlite:///bw.db
defaults: {{interval: 1s, timeout: 1s, sample_interval: 15s}}
bots:
  target:
    health: {health}
    alerts: {{HealthUnhealthy: {{for: 0s}}}}
    checks: {{disk: {{enabled: false}}}}
alerting: {{interval: 1s}}
channels:
  hook: {{kind: webhook, url: "{hook}", allow_private: true}}
route: {{receiver: hook, group_by: [alertname, bot], group_wait: 0s, group_interval: 1s,
        repeat_interval: 1h}}
""")


def write_stack(d: Path, health: str, hook: str, bb: int, am: int) -> None:
    (d / "blackbox.yml").write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 1s\n"
        "    http: {valid_status_codes: [200]}\n"
    )
    (d / "rules.yml").write_text(
        "groups:\n  - name: bench\n    interval: 1s\n    rules:\n"
        "      - {alert: HealthDown, expr: probe_success == 0, for: 0s}\n"
    )
    (d / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}}
rule_files: [{d}/rules.yml]
alerting:
  alertmanagers: [{{static_configs: [{{targets: ["127.0.0.1:{am}"]}}]}}]
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params: {{module: [http_2xx]}}
    static_configs: [{{targets: ["{health}"]}}]
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{target_label: __address__, replacement: "127.0.0.1:{bb}"}}
""")
    (d / "alertmanager.yml").write_text(f"""\
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s,
        repeat_interval: 1h}}
receivers:
  - name: hook
    webhook_configs: [{{url: "{hook}", send_resolved: true}}]
""")


def start_stack(d: Path, bb: int, prom: int, am: int) -> list[subprocess.Popen[bytes]]:
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return [
        subprocess.Popen(["prometheus-blackbox-exporter", f"--config.file={d}/blackbox.yml",
                          f"--web.listen-address=127.0.0.1:{bb}"], **quiet),  # type: ignore[call-overload]
        subprocess.Popen(["prometheus-alertmanager", f"--config.file={d}/alertmanager.yml",
                          f"--storage.path={d}/am", f"--web.listen-address=127.0.0.1:{am}",
                          "--cluster.listen-address="], **quiet),  # type: ignore[call-overload]
        subprocess.Popen(["prometheus", f"--config.file={d}/prometheus.yml",
                          f"--storage.tsdb.path={d}/tsdb", f"--web.listen-address=127.0.0.1:{prom}"],
                         **quiet),  # type: ignore[call-overload]
    ]  # fmt: skip


def start_botwatch(d: Path) -> subprocess.Popen[bytes]:
    """``botwatch run`` in ``d`` (quiet)."""
    return subprocess.Popen([sys.executable, "-m", "botwatch", "run", "--log-level", "error"],
                            cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def rss_mb(procs: list[int]) -> float:
    total = 0
    for pid in procs:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 1e6


async def wait_for(
    hook: FakeWebhook, path: str, status: str, since: float, timeout: float
) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for (p, body, _), at in zip(hook.received, hook.received_at, strict=True):
            if p == path and body.get("status") == status and at >= since:
                return at - since
        await asyncio.sleep(0.005)
    return None


async def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    have_stack = all(shutil.which(x) for x in STACK)
    endpoint = Endpoint()
    app = web.Application()
    app.router.add_get("/health", endpoint.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port, bb, prom, am = free_ports(4)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    health = f"http://127.0.0.1:{port}/health"
    procs: list[subprocess.Popen[bytes]] = []
    async with FakeWebhook() as hook:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            write_botwatch(d, health, f"{hook.base_url}/botwatch")
            ours = start_botwatch(d)
            procs.append(ours)
            if have_stack:
                write_stack(d, health, f"{hook.base_url}/prom", bb, am)
                procs += start_stack(d, bb, prom, am)
            try:
                await asyncio.sleep(8)  # both stacks up, probing, past start-up grace
                mine: list[float] = []
                theirs: list[float] = []
                rng = random.Random(7)
                for i in range(args.trials):
                    # A random moment within the probe interval: otherwise every trial
                    # would land at the same phase of both stacks' 1 s cycles, and the
                    # figure would be that phase, not the typical wait.
                    await asyncio.sleep(rng.uniform(0.0, 1.0))
                    endpoint.down, flipped = True, time.time()
                    a, b = await asyncio.gather(
                        wait_for(hook, "/botwatch", "firing", flipped, 30),
                        wait_for(hook, "/prom", "firing", flipped, 30 if have_stack else 0),
                    )
                    if a is not None:
                        mine.append(a)
                    if b is not None:
                        theirs.append(b)
                    print(f"  trial {i + 1}: botwatch {a if a is None else f'{a:.3f}s'}, "
                          f"prometheus stack {b if b is None else f'{b:.3f}s'}", flush=True)  # fmt: skip
                    endpoint.down, back = False, time.time()
                    await asyncio.gather(
                        wait_for(hook, "/botwatch", "resolved", back, 30),
                        wait_for(hook, "/prom", "resolved", back, 30 if have_stack else 0),
                    )
                    await asyncio.sleep(2)
                our_rss = rss_mb([ours.pid])
                stack_rss = rss_mb([p.pid for p in procs[1:]])
            finally:
                for p in procs:
                    p.send_signal(signal.SIGTERM)
                for p in procs:
                    p.wait(30)
    await runner.cleanup()
    med = statistics.median(mine)
    print(f"trials: {args.trials} (probe interval 1 s, for: 0, group_wait: 0)")
    print(f"botwatch:          median {med:.3f} s, max {max(mine):.3f} s   (target ≤ 0.7 s)")
    if not theirs:
        print("prometheus stack:  not installed (apt-get install " + " ".join(STACK) + ")")
        print(f"botwatch RSS: {our_rss:.1f} MB")
        return
    med_s = statistics.median(theirs)
    print(f"prometheus stack:  median {med_s:.3f} s, max {max(theirs):.3f} s")
    print(f"ratio botwatch / stack: {med / med_s:.2f}")
    print(f"RSS: botwatch {our_rss:.1f} MB, stack {stack_rss:.1f} MB (ratio {our_rss / stack_rss:.2f}; "
          "target < 0.5)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
