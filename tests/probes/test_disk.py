"""The disk probe on a real tmp path, with thresholds set around its real free space."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from botwatch.config import LoadedConfig, parse_config
from botwatch.probes import ProbeContext, ProbeResult, Status, build_probes
from botwatch.probes.disk import DiskProbe


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    c = ProbeContext()
    yield c
    await c.close()


def probe(path: Path, **kw: object) -> DiskProbe:
    return DiskProbe(bot="b", name="disk", path=path, **kw)  # type: ignore[arg-type]


def values(r: ProbeResult) -> dict[str, float]:
    return {s.name: s.value for s in r.samples}


def load(tmp_path: Path, text: str) -> LoadedConfig:
    return LoadedConfig(parse_config(text), tmp_path / "botwatch.yml", tmp_path)


async def test_free_space_is_measured(tmp_path: Path, ctx: ProbeContext) -> None:
    r = await probe(tmp_path, min_free_percent=0).run(ctx)
    assert r.status is Status.OK, r.reason
    usage = shutil.disk_usage(tmp_path)
    v = values(r)
    assert v["disk_total_bytes"] == usage.total
    assert v["disk_free_ratio"] == pytest.approx(v["disk_free_bytes"] / v["disk_total_bytes"])
    assert 0 < v["disk_free_bytes"] <= usage.total
    assert r.reason.endswith(f" on {tmp_path}")
    assert " free of " in r.reason


async def test_byte_thresholds(tmp_path: Path, ctx: ProbeContext) -> None:
    free = shutil.disk_usage(tmp_path).free
    # Margins of 25% and more: other processes may write while the test runs.
    r = await probe(tmp_path, min_free_percent=0, min_free_bytes=int(free * 0.4)).run(ctx)
    assert r.status is Status.OK, r.reason
    r = await probe(tmp_path, min_free_percent=0, min_free_bytes=int(free * 0.75)).run(ctx)
    assert r.status is Status.WARN
    assert ": below " in r.reason and r.details["min_free"] == int(free * 0.75)
    r = await probe(tmp_path, min_free_percent=0, min_free_bytes=free * 10).run(ctx)
    assert r.status is Status.CRIT
    assert r.details["min_free"] == free * 10


async def test_percent_thresholds(tmp_path: Path, ctx: ProbeContext) -> None:
    usage = shutil.disk_usage(tmp_path)
    pct = usage.free / usage.total * 100
    r = await probe(tmp_path, min_free_percent=pct * 0.75).run(ctx)
    assert r.status is Status.WARN
    assert r.reason.endswith(f": below {pct * 1.5:g}%")
    r = await probe(tmp_path, min_free_percent=100).run(ctx)
    assert r.status is Status.CRIT
    assert r.reason.endswith(": below 100%")


async def test_a_missing_path_is_critical(tmp_path: Path, ctx: ProbeContext) -> None:
    r = await probe(tmp_path / "no" / "such").run(ctx)
    assert r.status is Status.CRIT
    assert r.reason == f"{tmp_path / 'no' / 'such'} does not exist"


async def test_from_bot_defaults_and_limits(tmp_path: Path, ctx: ProbeContext) -> None:
    (tmp_path / "bots" / "alpha").mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    loaded = load(
        tmp_path,
        """
bots:
  alpha:
    run: {command: python -m alpha, cwd: bots/alpha}
    limits: {disk_free: 1000000TB, disk_free_percent: 0}
  beta:
    logs: ["cmd:railway logs", "logs/*/beta.log"]
  gamma:
    logs: ["journald:gamma"]
    checks: {disk: {interval: 2m}}
  delta:
    disk: [logs, ./logs/, /]
  epsilon:
    checks: {disk: {enabled: false}}
""",
    )
    probes = [p for p in build_probes(loaded) if p.kind == "disk"]
    got = [(p.bot, p.name, p.target) for p in probes]
    assert got == [
        ("alpha", "disk", str(tmp_path / "bots" / "alpha")),
        ("beta", "disk", str(tmp_path / "logs")),
        ("gamma", "disk", str(tmp_path)),
        ("delta", "disk:logs", str(tmp_path / "logs")),
        ("delta", "disk:/", "/"),
    ]
    assert probes[2].interval == 120.0
    results = {(p.bot, p.name): await p.run(ctx) for p in probes}
    alpha = results["alpha", "disk"]
    assert alpha.status is Status.CRIT  # nobody has an exabyte free
    assert alpha.reason.endswith(": below 1000000TB")
    assert all(
        s.labels == {"bot": "delta", "check": "disk:/"} for s in results["delta", "disk:/"].samples
    )
