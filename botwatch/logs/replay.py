"""Lines a ``cmd:`` source prints again when it is started again, dropped.

``railway logs --follow``, ``heroku logs --tail``, ``pm2 logs`` and ``kubectl logs -f``
print recent history before they follow: every restart of the command (it exited, or
botwatch restarted) would count those lines again — errors counted twice, a false
error-ratio alert. A command's output has no offset to resume from, so the follower
remembers digests of the last ``REMEMBER`` lines it handed out; after a start, lines
already remembered are dropped until the first one that is not. That is exact when
the history printed is no longer than what is remembered (heroku's 100 lines, pm2's
15); older history than that is read again, as before. The memory is saved as text
with the source's place, so a restart of botwatch drops the replay too.
"""

from __future__ import annotations

__all__ = ["REMEMBER", "ReplayFilter"]

from collections import Counter, deque
from hashlib import blake2b

REMEMBER = 1000
"""Lines remembered (16 hex characters each when saved)."""
_DIGEST = 8


def _digest(line: bytes) -> bytes:
    return blake2b(line, digest_size=_DIGEST).digest()


class ReplayFilter:
    """Drops the history a restarted command prints again (see the module's doc)."""

    def __init__(self, state: str | None = None, *, remember: int = REMEMBER) -> None:
        self._recent: deque[bytes] = deque()
        self._counts: Counter[bytes] = Counter()
        self.remember = remember
        self.replaying = False
        """Just started: lines remembered are history printed again."""
        self.dropped = 0
        """Lines dropped as printed again, in all."""
        if state:
            size = _DIGEST * 2
            for i in range(0, len(state) - size + 1, size):
                try:
                    self._add(bytes.fromhex(state[i : i + size]))
                except ValueError:
                    break  # a damaged state: what came before it still counts

    def started(self) -> None:
        """The command was (re)started: what it prints first may be history."""
        self.replaying = bool(self._recent)

    def new(self, lines: list[bytes]) -> list[bytes]:
        """``lines`` without those printed again; the rest are remembered."""
        out = []
        for line in lines:
            d = _digest(line)
            if self.replaying and d in self._counts:
                self.dropped += 1
                continue
            self.replaying = False
            out.append(line)
            self._add(d)
        return out

    @property
    def state(self) -> str | None:
        """The lines remembered, as text to save (None: none yet)."""
        return "".join(d.hex() for d in self._recent) or None

    def _add(self, d: bytes) -> None:
        if len(self._recent) >= self.remember:
            old = self._recent.popleft()
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._recent.append(d)
        self._counts[d] += 1
