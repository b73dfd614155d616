"""Grouping accuracy on real logs from many systems (benchmarks/logeval: loghub 2k
samples with corrected labels), the same miner settings for every system."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from botwatch.logs.templates import TemplateMiner

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "logeval" / "data"


def grouping_accuracy(truth: list[str], predicted: list[int]) -> float:
    """Lines in predicted groups that hold exactly the lines of one true group."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(predicted):
        groups[p].append(i)
    true_groups: dict[str, set[int]] = defaultdict(set)
    for i, t in enumerate(truth):
        true_groups[t].add(i)
    right = 0
    for lines in groups.values():
        events = {truth[i] for i in lines}
        if len(events) == 1 and true_groups[events.pop()] == set(lines):
            right += len(lines)
    return right / len(truth)


FIRST_SET = ("Apache", "BGL", "HDFS", "HPC", "HealthApp", "Linux", "OpenSSH", "Proxifier",
             "Spark", "Thunderbird", "Zookeeper")  # fmt: skip
"""The systems the 0.90 target was first met on; the others came later and are
guarded against getting worse (benchmarks/logeval/README.md)."""


def _scores() -> dict[str, float]:
    scores = {}
    for path in sorted(DATA.glob("*.tsv")):
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        rows = [line.split("\t", 1) for line in lines]
        miner = TemplateMiner()
        found = [miner.add(content) for _, content in rows]
        scores[path.stem] = grouping_accuracy([e for e, _ in rows], [t.id for t in found])
    return scores


def test_average_grouping_accuracy_over_real_systems() -> None:
    scores = _scores()
    first = [scores[name] for name in FIRST_SET]
    assert sum(first) / len(first) >= 0.90, scores
    # Every system we hold, the later ones too (OpenStack, Windows, Android and Mac
    # came after the miner was built): 0.8862 then, 0.9139 once templates split on a
    # position's few words, 0.9319 with units, booleans, "key:" values and dotted
    # names. It may only go up.
    assert len(scores) >= 16
    assert sum(scores.values()) / len(scores) >= 0.931, scores
