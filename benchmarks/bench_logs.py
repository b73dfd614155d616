"""``botwatch logs errors FILE`` end to end against ``grep ERROR | sort | uniq -c | sort -rn``
and against drain3 on the same error lines, all in the same run.

Generates a 1,000,000-line Python-logging bot log (~110 MB, ~4 % errors, some with
tracebacks), then times:

- botwatch: ``python -m botwatch logs errors FILE --json`` as a user runs it (start-up
  included, botwatch byte-compiled as an installed package is), median of ``--repeat``
  runs, as lines of the file per second, and the CPU time of its two processes (a
  forked child searches the bytes while the first parses);
- the grep pipeline on the same file (its grouping is useless: every line its own
  group, because of timestamps and ids);
- drain3 (``pip install --no-deps drain3 jsonpickle``), unmasked and with masks for
  numbers, IPs and hex, on the file's error lines; and botwatch's miner on the same
  lines, for the like-for-like figure.

``--big`` also writes a 1 GB log and reports botwatch's peak RSS reading it (target
< 200 MB). Re-feeding the error lines must not add patterns (checked, printed).

    .venv/bin/python benchmarks/bench_logs.py [--lines 1000000] [--repeat 3] [--big]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

INFO = (
    "Update id={a} is handled. Duration {b} ms by bot id=5723194461",
    "API response time: {b}ms for sendMessage to chat {a}",
    "User {a} started the bot with deep link ref_{b}",
    "Command: /price from user {a}: answered in {b} ms",
    "Notifications sent: {b} success, {c} failed",
    "Processing message {a} in chat {a} from user {b}",
)
ERRORS = (
    "Failed to send to user {a}: Forbidden: bot was blocked by the user (chat_id={a})",
    "HTTP error 429: Too Many Requests: retry after {c} while sending broadcast batch {b}",
    "Database connection failed: could not connect to server at 10.0.{c}.{b}:5432 after 3 tries",
    "Error while getting Updates: Conflict: terminated by other getUpdates request; make sure "
    "that only one bot instance is running",
    "Unhandled exception in handler for update {a} from chat {a}",
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/bot/handlers.py", line 142, in on_message\n'
    "    await process(update, context)\n"
    '  File "/app/bot/process.py", line 57, in process\n'
    "    price = await fetch_price(symbol)\n"
    "aiohttp.client_exceptions.ClientConnectorError: Cannot connect to host api.binance.com:443\n"
)


def generate(path: Path, lines: int, seed: int = 7) -> int:
    """Write the log; the number of error records."""
    rnd = random.Random(seed)
    t = datetime(2026, 11, 1)
    errors = written = 0
    with path.open("w") as out:
        while written < lines:
            t += timedelta(milliseconds=rnd.randint(1, 400))
            ts = t.strftime("%Y-%m-%d %H:%M:%S") + f",{t.microsecond // 1000:03d}"
            a, b, c = rnd.randint(10**6, 10**10), rnd.randint(1, 999), rnd.randint(1, 60)
            if rnd.random() < 0.04:
                msg = rnd.choice(ERRORS).format(a=a, b=b, c=c)
                out.write(f"{ts} - bot.handlers - ERROR - {msg}\n")
                errors += 1
                written += 1
                if msg.startswith("Unhandled"):
                    out.write(TRACEBACK)
                    written += TRACEBACK.count("\n")
            else:
                out.write(f"{ts} - bot.core - INFO - {rnd.choice(INFO).format(a=a, b=b, c=c)}\n")
                written += 1
    return errors


def timed(cmd: list[str] | str, *, shell: bool = False) -> tuple[float, str]:
    started = time.perf_counter()
    got = subprocess.run(cmd, shell=shell, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, got.stdout


def botwatch_run(path: Path) -> tuple[float, dict[str, object], int, float]:
    """Seconds, the JSON report, peak RSS in kB of the run, CPU seconds (both of its
    processes: a large file's bytes are searched by a forked child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, out = timed([sys.executable, "-m", "botwatch", "logs", "errors", str(path), "--json"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, json.loads(out), max(after.ru_maxrss, before.ru_maxrss), cpu


def compile_botwatch() -> None:
    """Byte-compile botwatch as an installed package is (pip compiles at install; an
    editable checkout under PYTHONDONTWRITEBYTECODE would compile at every start)."""
    root = Path(__file__).resolve().parent.parent / "botwatch"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root)], check=True,
                   capture_output=True)  # fmt: skip


def error_messages(path: Path) -> list[str]:
    marker = " - ERROR - "
    with path.open() as f:
        return [line.split(marker, 1)[1].rstrip("\n") for line in f if marker in line]


def drain3_rate(messages: list[str], masked: bool) -> tuple[float, int] | None:
    try:
        from drain3 import TemplateMiner
        from drain3.masking import MaskingInstruction
        from drain3.template_miner_config import TemplateMinerConfig
    except ImportError:
        return None
    config = TemplateMinerConfig()
    config.profiling_enabled = False
    if masked:
        config.masking_instructions = [
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})"
                               r"((?=[^A-Za-z0-9])|$)", "IP"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
        ]  # fmt: skip
    miner = TemplateMiner(config=config)
    started = time.perf_counter()
    for m in messages:
        miner.add_log_message(m)
    seconds = time.perf_counter() - started
    return len(messages) / seconds, len(miner.drain.clusters)


def ours_rate(messages: list[str]) -> tuple[float, int, int]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from botwatch.logs.templates import TemplateMiner

    miner = TemplateMiner()
    started = time.perf_counter()
    for m in messages:
        miner.add(m)
    seconds = time.perf_counter() - started
    n = len(miner)
    for m in messages:  # again: nothing new may appear
        miner.add(m)
    return len(messages) / seconds, n, len(miner)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big", action="store_true", help="also a 1 GB log, for peak RSS")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bot.log"
        errors = generate(log, args.lines)
        size = log.stat().st_size
        print(f"log: {args.lines:,} lines, {size / 1e6:.0f} MB, {errors:,} error records "
              f"({errors / args.lines:.1%})")  # fmt: skip
        compile_botwatch()
        runs = [botwatch_run(log) for _ in range(args.repeat)]
        ours = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[3] for r in runs)
        report = runs[0][1]
        patterns = report["patterns"]
        assert isinstance(patterns, list)
        grep_runs = [timed(f"grep ERROR {log} | sort | uniq -c | sort -rn", shell=True)
                     for _ in range(args.repeat)]  # fmt: skip
        grep = statistics.median(r[0] for r in grep_runs)
        groups = len(grep_runs[0][1].splitlines())
        print(f"botwatch logs errors: median {ours:.2f} s = {args.lines / ours / 1e6:.2f} M lines/s "
              f"(target ≥ 1.00), {len(patterns)} patterns, peak RSS {runs[0][2] / 1024:.0f} MB; "
              f"CPU {cpu:.2f} s in its two processes")  # fmt: skip
        print(f"grep|sort|uniq -c|sort: median {grep:.2f} s = {args.lines / grep / 1e6:.2f} M lines/s, "
              f"{groups:,} groups (each line its own)")  # fmt: skip
        print(f"ratio botwatch / grep pipeline (speed): {grep / ours:.2f}")
        messages = error_messages(log)
        our_rate, n1, n2 = ours_rate(messages)
        print(f"botwatch's miner on the {len(messages):,} error lines: {our_rate / 1e3:.0f} k lines/s, "
              f"{n1} patterns; fed again: {n2} patterns")  # fmt: skip
        for masked in (False, True):
            got = drain3_rate(messages, masked)
            label = "with masks" if masked else "unmasked"
            if got is None:
                print("drain3: not installed (pip install --no-deps drain3 jsonpickle)")
                break
            rate, clusters = got
            print(f"drain3 {label}: {rate / 1e3:.0f} k lines/s, {clusters} clusters; "
                  f"botwatch end to end / drain3: {args.lines / ours / rate:.1f}×, "
                  f"miner to miner: {our_rate / rate:.1f}×")  # fmt: skip
        if args.big:
            big = Path(tmp) / "big.log"
            generate(big, args.lines * 9)
            seconds, _, peak, _ = botwatch_run(big)
            print(f"1 GB-class log ({big.stat().st_size / 1e9:.2f} GB): {seconds:.1f} s, "
                  f"peak RSS {peak / 1024:.0f} MB (target < 200 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
