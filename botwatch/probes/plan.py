"""From config to the list of probes to run: every registered kind says what it wants."""

from __future__ import annotations

__all__ = ["build_probes"]

from collections.abc import Iterable

from botwatch.config import LoadedConfig
from botwatch.probes.base import PROBES, Probe


def build_probes(loaded: LoadedConfig, bots: Iterable[str] | None = None) -> list[Probe]:
    """Every probe the config asks for, for ``bots`` (all when None), in config order."""
    wanted = list(loaded.config.bots) if bots is None else list(bots)
    unknown = [b for b in wanted if b not in loaded.config.bots]
    if unknown:
        from botwatch.errors import BotwatchError

        raise BotwatchError(
            f"no bot named {', '.join(unknown)} in {loaded.path}; "
            f"known: {', '.join(loaded.config.bots) or 'none'}"
        )
    probes: list[Probe] = []
    for bot in wanted:
        spec = loaded.config.bots[bot]
        for cls in PROBES.values():
            probes.extend(cls.from_bot(bot, spec, loaded))
    return probes
