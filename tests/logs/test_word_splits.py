"""A ``<*>`` position that holds a few plain words names events (``VM Paused`` /
``VM Resumed``): one template per word, until a position turns out to hold values,
when its templates merge into the oldest — in the miner, in the patterns a read
reports, in the rows the monitor stores and in ``--records``."""

from __future__ import annotations

from pathlib import Path

from botwatch.logs.known import BotPatterns
from botwatch.logs.patterns import ErrorPatterns
from botwatch.logs.record import LogRecord
from botwatch.logs.templates import MAX_SPLIT, MAX_WORDS, TemplateMiner

VM = "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd{n:02d}] VM {word} (Lifecycle Event)"
USERS = ["cyrus", "news", "test", "root", "guest"]


def test_a_few_words_name_events_and_more_are_values() -> None:
    assert MAX_WORDS == 3
    m = TemplateMiner()
    paused = [m.add(VM.format(n=n, word="Paused")) for n in range(5)]
    resumed = m.add(VM.format(n=7, word="Resumed"))
    started = m.add(VM.format(n=8, word="Started"))
    assert len({t.id for t in (*paused, resumed, started)}) == 3
    assert paused[0].text == "[instance: <*>] VM Paused (Lifecycle Event)"
    assert resumed.text == "[instance: <*>] VM Resumed (Lifecycle Event)"
    assert paused[0].count == 5 and resumed.count == 1
    assert m.add(VM.format(n=9, word="Paused")) is paused[0]
    # Other clusters are not touched: a different message stays its own template.
    other = m.add("Instance spawned successfully")

    # A user name is a value: past MAX_WORDS different words, one template.
    logins = [m.add(f"session opened for user {u} by (uid=0)") for u in USERS]
    assert len({t.id for t in logins}) == 1
    assert logins[0].text == "session opened for user <*> by (uid=<*>)"
    assert logins[0].count == len(USERS)

    # The events' position too, once it sees a fourth word: the templates merge into
    # the oldest, its id and text, with every count.
    stopped = m.add(VM.format(n=10, word="Stopped"))
    assert {t.id for t in (*paused, resumed, started, stopped)} == {paused[0].id}
    assert resumed.text == stopped.text == "[instance: <*>] VM <*> (Lifecycle Event)"
    assert stopped.count == 9 and stopped is paused[0].live
    assert m.add(VM.format(n=11, word="Resumed")) is stopped  # merged for good
    assert other.text == "Instance spawned successfully"
    assert sorted(t.text for t in m) == [
        "Instance spawned successfully", "[instance: <*>] VM <*> (Lifecycle Event)",
        "session opened for user <*> by (uid=<*>)",
    ]  # fmt: skip
    assert m.merges == 4  # VM: three templates into one; logins: cyrus, news, test


def test_a_value_that_is_not_a_plain_word_ends_the_split() -> None:
    m = TemplateMiner()
    a = m.add("the handler start failed: timeout")
    b = m.add("the handler help failed: timeout")
    assert a.id != b.id
    c = m.add("the handler 42 failed: timeout")  # a number: the position holds values
    assert a.id == b.id == c.id and a.text == "the handler <*> failed: timeout"


def test_never_split_where_shapes_would_skip_the_words() -> None:
    # Same digit shape, different words: the shortcut by digit shape must not give the
    # first word's template to the second.
    m = TemplateMiner()
    a = m.add("worker 1 state Paused")
    b = m.add("worker 2 state Resumed")
    c = m.add("worker 3 state Paused")
    d = m.add("worker 4 state Resumed")
    assert a is c and b is d and a is not b
    plain = TemplateMiner(shapes=False)
    got = [plain.add(f"worker {n} state {w}").id for n, w in
           ((1, "Paused"), (2, "Resumed"), (3, "Paused"), (4, "Resumed"))]  # fmt: skip
    assert got == [a.id, b.id, c.id, d.id]


def test_templates_per_cluster_are_bounded() -> None:
    m = TemplateMiner()
    words = ["alpha", "beta", "gamma"]
    for i in range(200):
        a, b, c, d = (words[(i // 3**k) % 3] for k in range(4))
        m.add(f"job done at stage {a} step {b} phase {c} part {d}")
    assert 1 <= len(m) < MAX_SPLIT


def test_a_read_reports_merged_templates_as_one_pattern() -> None:
    patterns = ErrorPatterns()
    for i, word in enumerate(["Paused", "Resumed", "Paused", "Started"]):
        patterns.add(LogRecord(VM.format(n=i, word=word), "error", 1000.0 + i, line=i + 1))
    assert sorted((p.count, p.text) for p in patterns.top()) == [
        (1, "[instance: <*>] VM Resumed (Lifecycle Event)"),
        (1, "[instance: <*>] VM Started (Lifecycle Event)"),
        (2, "[instance: <*>] VM Paused (Lifecycle Event)"),
    ]  # fmt: skip
    patterns.add(LogRecord(VM.format(n=9, word="Stopped"), "error", 900.0, line=9))
    [p] = patterns.top()
    assert p.count == 5 and p.text == "[instance: <*>] VM <*> (Lifecycle Event)"
    assert (p.first_seen, p.last_seen, p.first_line) == (900.0, 1003.0, 1)
    assert len(p.examples) == 3 and "VM Paused" in p.examples[0]
    assert sum(p.by_hour) == 5 and p.levels == {"error": 5}


def test_known_since_follows_a_stored_pattern_into_its_merge() -> None:
    patterns = ErrorPatterns()
    patterns.seed([(VM.format(n=1, word="Paused"), None, 10.0),
                   (VM.format(n=2, word="Resumed"), None, 5.0)])  # fmt: skip
    patterns.add(LogRecord(VM.format(n=3, word="Resumed"), "error", 100.0))
    assert [p.known_since for p in patterns.top()] == [5.0]
    for word in ("Started", "Stopped"):
        patterns.add(LogRecord(VM.format(n=4, word=word), "error", 100.0))
    [p] = patterns.top()
    assert p.count == 3 and p.known_since == 5.0  # the oldest of what merged


def test_the_monitor_keeps_a_merged_template_in_its_first_row(tmp_path: Path) -> None:
    from botwatch.store import Store

    bot = BotPatterns("alpha")
    for i, word in enumerate(["Paused", "Resumed"]):
        bot.add(LogRecord(VM.format(n=i, word=word), "error", 100.0 + i), 100.0)
    first_rows, new = bot.take()
    assert len(first_rows) == len(new) == 2
    first = next(r["key"] for r in first_rows if "Paused" in r["text"])
    for i, word in enumerate(["Started", "Stopped", "Resumed"]):
        bot.add(LogRecord(VM.format(n=i, word=word), "error", 200.0), 200.0)
    rows, new = bot.take()
    # Started was new while it stood apart; after the merge every record goes to the
    # oldest row, with the merged text, and no row is announced as a new pattern.
    assert [r["text"] for r in new] == ["[instance: <*>] VM Started (Lifecycle Event)"]
    [merged] = [r for r in rows if r["key"] == first]
    assert merged["text"] == "[instance: <*>] VM <*> (Lifecycle Event)"
    assert merged["count"] == 2  # Stopped (which merged) and Resumed after it

    # After a restart, seeded from the store, the same messages keep the first row.
    with Store.open(f"sqlite:///{tmp_path}/bw.db") as store:
        store.log_positions.save({}, 100.0, first_rows)
        store.log_positions.save({}, 200.0, rows)
        stored = list(reversed(store.log_positions.patterns("alpha")))
    again = BotPatterns("alpha", stored)
    again.add(LogRecord(VM.format(n=5, word="Paused"), "error", 300.0), 300.0)
    rows, new = again.take()
    assert [r["key"] for r in rows] == [first] and new == []


def test_endless_unlike_messages_take_bounded_templates() -> None:
    import random

    from botwatch.logs.templates import OVERFLOW

    rng = random.Random(2)
    vocabulary = ["".join(rng.choice("abcdefghij") for _ in range(6)) for _ in range(3000)]
    m = TemplateMiner(max_templates=50)
    known = m.add("Database connection failed: could not connect to server")
    for _ in range(2000):
        m.add(" ".join(rng.choice(vocabulary) for _ in range(rng.randrange(2, 9))))
    assert len(m) <= 51
    # What was kept still matches exactly; garbage past the cap joins the most alike
    # cluster of its leaf, or the one overflow template.
    again = m.add("Database connection failed: could not connect to server")
    assert (
        again is known and known.text == "Database connection failed: could not connect to server"
    )
    assert OVERFLOW in {t.text for t in m}
    # One leaf (same length, same first words): 226 templates for 300 such messages
    # without a bound; with 5 clusters a leaf, a few (words may still split a cluster).
    leaf_full = TemplateMiner(max_clusters=5)
    for _ in range(300):
        leaf_full.add("job started " + " ".join(rng.choice(vocabulary) for _ in range(4)))
    assert len(leaf_full) <= 10
