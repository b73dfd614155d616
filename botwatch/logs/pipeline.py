"""The error scan's byte search in a second process, so two cores share the work.

``botwatch logs errors FILE`` spends about half its time finding the lines that may be
errors in the file's bytes (``LineReader.error_blocks``: C-speed searches, but over
every byte) and half parsing and grouping those lines. On a machine with two cores a
forked child does the first half while this process does the second, one batch of
candidate lines behind: a large log is read in about the time of the slower half.

The child is a fork, so it starts with the reader exactly as it is (the head already
read for format detection), and sends back, in order, what ``error_blocks`` would have
yielded here: the same records, patterns and counts as without it (tested). It never
runs anything else of botwatch: it leaves with ``os._exit`` whatever happens.

Used only where it pays and is safe (``usable``): a regular file of at least
``PIPELINE_OVER`` bytes, ``os.fork`` available, more than one CPU, and this process
running one thread (forking a threaded process can leave the child waiting forever
on a lock another thread held).
"""

from __future__ import annotations

__all__ = ["PIPELINE_OVER", "forked_error_blocks", "usable"]

import os
import pickle
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, BinaryIO

from botwatch.errors import LogSourceError
from botwatch.logs.read import LineReader

PIPELINE_OVER = 8 * 1024 * 1024
"""Bytes a file needs before a second process is worth its start (a few ms)."""
BATCH = 500
"""Candidate records per message from the child."""


def usable(stream: BinaryIO, *, over: int = PIPELINE_OVER) -> bool:
    """Whether ``stream`` may be scanned by a forked child (see the module's doc)."""
    if not hasattr(os, "fork") or _cpus() < 2 or threading.active_count() > 1:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, AttributeError, ValueError):
        return False  # not a file descriptor (an in-memory stream)
    return stat.S_ISREG(st.st_mode) and st.st_size >= over


def _cpus() -> int:
    """CPUs this process may run on (a container or ``taskset`` may allow fewer than
    the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def forked_error_blocks(
    reader: LineReader,
    needles: Sequence[bytes],
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """What ``reader.error_blocks(needles)`` yields, found by a forked child; the
    reader's ``lines``, ``bytes`` and ``cut`` are set when it is done, and
    ``progress`` is called here with the bytes the child has read."""
    r, w = os.pipe()
    _widen(w)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its work is checked by what it sends
        code = 1
        try:
            os.close(r)
            code = _child(reader, needles, os.fdopen(w, "wb", buffering=1 << 16))
        finally:
            os._exit(code)
    os.close(w)
    inp = os.fdopen(r, "rb", buffering=1 << 16)
    try:
        while True:
            try:
                kind, payload = pickle.load(inp)
            except EOFError:
                _, status = os.waitpid(pid, 0)
                pid = 0
                code = os.waitstatus_to_exitcode(status)
                how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
                raise LogSourceError(
                    f"the process scanning the log stopped before the end ({how})"
                ) from None
            if kind == "chunks":
                yield from payload
            elif kind == "read":
                if progress is not None:
                    progress(payload)
            elif kind == "error":
                raise payload
            else:
                reader.lines, reader.bytes, reader.cut = payload
                return
    finally:
        inp.close()  # a child still writing (we stopped early) gets EPIPE and leaves
        if pid:
            os.waitpid(pid, 0)


def _widen(fd: int) -> None:
    """A pipe of 1 MB where Linux allows it (64 KB otherwise): the child can run a few
    batches ahead instead of waiting on each one to be read."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


def _child(reader: LineReader, needles: Sequence[bytes], out: IO[bytes]) -> int:
    def send(kind: str, payload: Any) -> None:
        pickle.dump((kind, payload), out, protocol=pickle.HIGHEST_PROTOCOL)

    def read(n: int) -> None:
        send("read", n)
        out.flush()  # the progress bar moves as the file is read, not at the end

    reader.progress = read
    try:
        batch: list[tuple[int, list[str]]] = []
        for chunk in reader.error_blocks(needles):
            batch.append(chunk)
            if len(batch) >= BATCH:
                send("chunks", batch)
                batch = []
        if batch:
            send("chunks", batch)
        send("done", (reader.lines, reader.bytes, reader.cut))
    except BrokenPipeError:
        return 1  # the parent stopped reading: nothing to tell it
    except Exception as e:  # every failure goes back to the parent
        try:
            send("error", e)
        except Exception:  # an exception pickle cannot carry
            send("error", LogSourceError(f"{type(e).__name__}: {e}"))
        out.flush()
        return 1
    out.flush()
    return 0
