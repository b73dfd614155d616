"""Run a Python module as a child that stops when its supervisor disappears.

``python -m botwatch.demo._guard PARENT_PID MODULE [ARGS...]`` runs ``python -m MODULE
ARGS...`` in this process and sends it SIGTERM as soon as ``PARENT_PID`` is no longer
its parent (the supervisor was killed without stopping its children). Used for the fake
Telegram API, which has no such option of its own; the demo bots have ``--parent-pid``.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    # The module's own SIGTERM handling then shuts it down cleanly.
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> None:
    """Start the watcher thread, then run the module as ``__main__``."""
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit("usage: python -m botwatch.demo._guard PARENT_PID MODULE [ARGS...]")
    parent, module = int(sys.argv[1]), sys.argv[2]
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
