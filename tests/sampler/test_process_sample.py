"""Sampling real process trees: memory, children, CPU across samples, exits."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psutil
import pytest

from botwatch.clock import ManualClock
from botwatch.errors import ProcessNotFound
from botwatch.sampler import SERIES, Sampler, sample_tree, sample_values
from botwatch.series import Sample

if TYPE_CHECKING:
    from conftest import Children

MB = 1024 * 1024
BUSY = "import threading\nthreading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=True).start()"


def test_sample_of_a_process_holding_memory(children: Children) -> None:
    child = children.spawn(f"blob = b'x' * {64 * MB}")
    s = sample_tree(psutil.Process(child.pid))
    assert s.pid == child.pid
    assert s.rss >= 64 * MB
    assert s.vms >= s.rss
    assert 0 < s.mem_percent < 100
    assert s.threads >= 1
    assert s.open_files is not None and s.open_files >= 3  # stdin, stdout, stderr
    assert s.children == 0
    assert s.uptime >= 0
    assert s.create_time == psutil.Process(child.pid).create_time()
    assert s.status in (psutil.STATUS_SLEEPING, psutil.STATUS_RUNNING)


def test_tree_sums_children(children: Children) -> None:
    grandchild = f"import time; blob = b'x' * {32 * MB}; time.sleep(600)"
    child = children.spawn(
        "import subprocess\n"
        f"ws = [subprocess.Popen([sys.executable, '-c', {grandchild!r}]) for _ in range(2)]\n"
        "import psutil\n"
        # Wait until both workers hold their memory, so the sample sees it.
        "while sum(psutil.Process(w.pid).memory_info().rss for w in ws) < 64 * 1024 * 1024:\n"
        "    time.sleep(0.01)\n"
    )
    root = psutil.Process(child.pid)
    s = sample_tree(root)
    assert s.children == 2
    assert s.rss >= 64 * MB + root.memory_info().rss
    assert s.threads >= 3


def test_sampler_measures_cpu_between_samples(children: Children) -> None:
    child = children.spawn(BUSY)
    proc = psutil.Process(child.pid)
    sampler = Sampler()
    first = sampler.sample("b", proc)
    # First sight: the average since the process started (like ps), so it is real too.
    assert first.cpu_percent >= 0
    time.sleep(0.3)
    second = sampler.sample("b", psutil.Process(child.pid))
    assert second.cpu_percent > 0  # a spinning thread, measured over the interval


def test_first_sight_of_an_idle_process_is_near_zero(children: Children) -> None:
    child = children.spawn()
    s = Sampler().sample("b", psutil.Process(child.pid))
    assert s.cpu_percent < 100


def test_sample_of_an_exited_process(children: Children) -> None:
    pid = children.dead_pid()
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(pid)
    child = children.spawn()
    proc = psutil.Process(child.pid)
    child.kill()
    child.wait()
    with pytest.raises(ProcessNotFound, match=f"process {child.pid} has exited"):
        Sampler().sample("b", proc)


def test_sample_of_a_zombie(children: Children) -> None:
    child = children.spawn(code="pass")
    proc = psutil.Process(child.pid)
    deadline = time.monotonic() + 10
    while proc.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(ProcessNotFound, match="has exited"):
        sample_tree(proc)


def test_to_samples_names_labels_and_clock(children: Children) -> None:
    child = children.spawn()
    clock = ManualClock(1_700_000_000.0)
    sampler = Sampler(clock=clock)
    s = sampler.sample("cryptomentor", psutil.Process(child.pid))
    assert s.ts == 1_700_000_000.0
    samples = sampler.to_samples("cryptomentor", s)
    assert {x.name for x in samples} == {
        "process_cpu_percent", "process_memory_percent", "process_rss_bytes",
        "process_vms_bytes", "process_threads", "process_open_fds", "process_children",
        "process_uptime_seconds",
    }  # fmt: skip
    assert set(SERIES) == {x.name for x in samples}
    assert all(x.labels == {"bot": "cryptomentor"} and x.ts == s.ts for x in samples)
    by_name = {x.name: x.value for x in samples}
    assert by_name["process_rss_bytes"] == s.rss
    assert by_name["process_children"] == 0
    assert isinstance(samples[0], Sample)


def test_unreadable_values_are_left_out(children: Children) -> None:
    from dataclasses import replace

    child = children.spawn()
    s = replace(sample_tree(psutil.Process(child.pid)), open_files=None)
    assert "process_open_fds" not in sample_values(s)
    assert len(sample_values(s)) == len(SERIES) - 1


def test_forget_drops_the_cache(children: Children) -> None:
    child = children.spawn(BUSY)
    sampler = Sampler()
    sampler.sample("b", psutil.Process(child.pid))
    sampler.forget("b")
    sampler.forget("never-seen")
    assert sampler.sample("b", psutil.Process(child.pid)).pid == child.pid
