"""Summary statistics over process samples."""

from __future__ import annotations

import pytest

from botwatch.sampler import ColumnStats, ProcessSample, column_stats, percentile, summarize


def ps(cpu: float, rss: int, fds: int | None = 10) -> ProcessSample:
    return ProcessSample(
        ts=0.0,
        pid=1,
        create_time=0.0,
        cpu_percent=cpu,
        mem_percent=1.0,
        rss=rss,
        vms=2 * rss,
        threads=4,
        open_files=fds,
        children=0,
        uptime=5.0,
        status="sleeping",
    )


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([5, 1, 4, 2, 3], 0) == 1
    assert percentile([1, 2, 3, 4, 5], 100) == 5
    assert percentile([0, 10], 95) == pytest.approx(9.5)
    assert percentile([7], 95) == 7
    with pytest.raises(ValueError):
        percentile([], 95)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_column_stats_skips_unknown_values() -> None:
    assert column_stats([None, None]) is None
    st = column_stats([1.0, None, 3.0])
    assert st == ColumnStats(count=2, avg=2.0, min=1.0, max=3.0, p95=pytest.approx(2.9))


def test_summarize() -> None:
    samples = [ps(10, 100), ps(20, 300, None), ps(30, 200)]
    out = summarize(samples)
    assert out["cpu_percent"].avg == pytest.approx(20)
    assert (out["rss"].min, out["rss"].max) == (100, 300)
    assert out["vms"].max == 600
    assert out["open_files"].count == 2
    assert out["threads"].to_dict() == {"count": 3, "avg": 4, "min": 4, "max": 4, "p95": 4}
    assert summarize(samples, ["cpu_percent"]).keys() == {"cpu_percent"}
    assert summarize([]) == {}
