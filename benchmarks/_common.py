"""Helpers shared by the benchmarks: the loopback health server, a config, figures."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def health_server(ports: Sequence[int]) -> Iterator[None]:
    """Run ``_health_server.py`` on ``ports`` in a child process (its own CPU)."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_health_server.py"), *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("health server did not start")
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def endpoint_urls(ports: Sequence[int], n: int) -> list[str]:
    """``n`` distinct health URLs spread over ``ports``."""
    return [f"http://127.0.0.1:{ports[i % len(ports)]}/bot{i}/health/json" for i in range(n)]


def fleet_yaml(urls: Sequence[str], storage: str, interval: str = "30s") -> str:
    """A botwatch.yml with one bot per URL (health check only)."""
    lines = [f"storage: {storage}", f"defaults: {{interval: {interval}, timeout: 10s}}", "bots:"]
    for i, url in enumerate(urls):
        lines += [
            f"  bot{i}:",
            f"    health: {url}",
            "    disk: []",
            "    checks: {disk: {enabled: false}}",
        ]
    return "\n".join(lines) + "\n"


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of ``values`` by nearest rank."""
    s = sorted(values)
    if not s:
        return float("nan")
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]
