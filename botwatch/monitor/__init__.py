"""The monitor: probes and the sampler on schedule, results into the store."""

from __future__ import annotations

from botwatch.monitor.monitor import Monitor, run_monitor
from botwatch.monitor.sampling import SamplerLoop
from botwatch.monitor.scheduler import ProbeScheduler

__all__ = ["Monitor", "ProbeScheduler", "SamplerLoop", "run_monitor"]
