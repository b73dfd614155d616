"""Grouping accuracy of a log template miner on labelled real-world logs.

The data is ``benchmarks/logeval/data/<System>.tsv`` (see ``logeval/README.md``):
one row per log line, ``event_id<TAB>content``, where ``event_id`` is the line's
true event (its hand-checked template) and ``content`` the message part of the line.

The metric is the "grouping accuracy" (GA) of the log-parsing literature, computed
as in LogPAI's ``logparser/utils/evaluator.py`` (``get_accuracy``): lines without a
true event are left out; every group the miner forms is *correct* when the set of
lines in it is exactly the set of lines of one true event; the accuracy is the
number of lines in correct groups divided by the number of lines. A group that
splits an event, or merges two, counts none of its lines. Each system is scored on
its own and the figure reported is the plain mean over systems.

Each system gets a fresh miner, lines are fed in file order, and no setting is
changed per system.

Run from the project root::

    .venv/bin/python benchmarks/bench_log_accuracy.py --miner baseline
    .venv/bin/python benchmarks/bench_log_accuracy.py --miner botwatch

``--miner botwatch`` uses ``botwatch.logs.templates.TemplateMiner``: ``add(content)``
returns the live template (cluster) object the line joined; templates may widen or
merge as later lines arrive, so each line is assigned the ``.id`` its returned
object has *after* all lines of the system are in. ``--miner baseline`` masks
numbers, hex and IP addresses with a regex and groups lines by the masked text.
Standard library only; the script exits 0 after printing the table.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "logeval" / "data"

Miner = Callable[[Sequence[str]], list[Hashable]]


def load_system(path: Path) -> tuple[list[str], list[str]]:
    """``(event_ids, contents)`` of one ``<System>.tsv`` file, in file order."""
    events: list[str] = []
    contents: list[str] = []
    with path.open(encoding="utf-8", newline="\n") as fh:
        header = fh.readline().rstrip("\n")
        if header != "event_id\tcontent":
            raise ValueError(f"{path}: unexpected header {header!r}")
        for n, line in enumerate(fh, start=2):
            line = line.rstrip("\n")
            if "\t" not in line:
                raise ValueError(f"{path}:{n}: no tab")
            event, content = line.split("\t", 1)
            events.append(event)
            contents.append(content)
    return events, contents


def grouping_accuracy(truth: Sequence[str], predicted: Sequence[Hashable]) -> float:
    """Share of lines whose predicted group holds exactly the lines of their true event.

    Same result as logparser's ``evaluator.get_accuracy`` (its accuracy figure):
    lines with an empty true event are dropped first.
    """
    if len(truth) != len(predicted):
        raise ValueError("truth and prediction differ in length")
    keep = [i for i, t in enumerate(truth) if t != ""]
    if not keep:
        return 0.0
    truth_size = Counter(truth[i] for i in keep)
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i in keep:
        groups[predicted[i]].append(i)
    correct = 0
    for members in groups.values():
        events = {truth[i] for i in members}
        if len(events) == 1 and truth_size[next(iter(events))] == len(members):
            correct += len(members)
    return correct / len(keep)


_BASELINE_MASK = re.compile(
    r"(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?"  # IPv4, optional port
    r"|0x[0-9a-fA-F]+"  # 0x-prefixed hex
    r"|\b[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b"  # hex words with a digit
    r"|\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*\b"
    r"|\d+"  # any other run of digits
)


def baseline_miner(lines: Sequence[str]) -> list[Hashable]:
    """Group lines by their text with numbers, hex and IP addresses masked."""
    return [_BASELINE_MASK.sub("<*>", line) for line in lines]


def botwatch_miner(lines: Sequence[str]) -> list[Hashable]:
    """Group lines with a fresh ``botwatch.logs.templates.TemplateMiner``.

    ``add`` returns the live template object; its ``.id`` is read only after every
    line is in, so a line ends in the template it finally belongs to.
    """
    try:
        from botwatch.logs.templates import TemplateMiner
    except ImportError as exc:
        sys.exit(
            "bench_log_accuracy: cannot import botwatch.logs.templates.TemplateMiner "
            f"({exc}); run from the project root with the project's venv, "
            "or use --miner baseline"
        )
    miner = TemplateMiner()
    clusters = [miner.add(line) for line in lines]
    return [cluster.id for cluster in clusters]


MINERS: dict[str, Miner] = {"baseline": baseline_miner, "botwatch": botwatch_miner}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--miner", choices=sorted(MINERS), default="botwatch")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of <System>.tsv")
    parser.add_argument(
        "--only", nargs="*", default=None, metavar="SYSTEM", help="score only these systems"
    )
    args = parser.parse_args(argv)

    files = sorted(args.data.glob("*.tsv"))
    if args.only:
        wanted = {s.lower() for s in args.only}
        files = [f for f in files if f.stem.lower() in wanted]
    if not files:
        print(f"bench_log_accuracy: no .tsv files in {args.data}", file=sys.stderr)
        return 1
    mine = MINERS[args.miner]

    print(f"miner: {args.miner}    data: {args.data}")
    header = f"{'system':<12} {'lines':>6} {'events':>7} {'groups':>7} {'GA':>7} {'secs':>7}"
    print(header)
    print("-" * len(header))
    scores: list[float] = []
    total_lines = 0
    started = time.perf_counter()
    for path in files:
        truth, contents = load_system(path)
        t0 = time.perf_counter()
        predicted = mine(contents)
        secs = time.perf_counter() - t0
        ga = grouping_accuracy(truth, predicted)
        scores.append(ga)
        total_lines += len(contents)
        events = len({t for t in truth if t})
        groups = len(set(predicted))
        print(f"{path.stem:<12} {len(contents):>6} {events:>7} {groups:>7} {ga:>7.3f} {secs:>7.2f}")
    elapsed = time.perf_counter() - started
    print("-" * len(header))
    mean = sum(scores) / len(scores)
    print(f"{'mean':<12} {total_lines:>6} {'':>7} {'':>7} {mean:>7.3f} {elapsed:>7.2f}")
    print(
        f"average grouping accuracy over {len(scores)} systems: {mean:.4f} "
        f"({total_lines} lines, {elapsed:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
