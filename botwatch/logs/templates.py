"""Grouping log messages into templates ("patterns"): a Drain-style prefix tree.

Each message is masked (``botwatch.logs.masking``) and split into tokens. Messages
with the same number of tokens and the same first tokens share a leaf of a shallow
tree; in a leaf, a message joins the cluster it is most similar to (the share of
positions with the same token) if that share reaches ``similarity``, and the
cluster's differing positions become ``<*>``; otherwise it starts a new cluster.
A first token that is itself variable goes down a wildcard branch. Exact repeats of a
masked message skip the tree through a dictionary, which is what keeps the cost per
line flat as patterns accumulate, and re-feeding the same lines never adds one.

A word that differs can name the event (``VM Paused`` / ``VM Resumed``, ``Instance
spawned`` / ``destroyed``) or be a value (a user name, a host). Which it is shows in
how many different words the position takes: a handful of words that name events,
or many values. So a cluster's ``<*>`` position whose messages hold plain words stays
split into one template per word while it has seen at most ``MAX_WORDS`` of them; the
next word, or any value that is not a plain word, makes the position a value, and the
templates that differed only there merge into the first of them. Templates only ever
merge, never split: what two templates hold apart now may join later, never the
reverse.

A template keeps its ``id`` for life (its text may still widen); one merged into
another takes that one's ``id``, so stored patterns stay the same pattern.
"""

from __future__ import annotations

__all__ = [
    "MAX_MESSAGE", "MAX_TEMPLATES", "MAX_WORDS", "OVERFLOW", "ByTemplate", "Template",
    "TemplateMiner",
]  # fmt: skip

import re
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from botwatch.logs.masking import WILDCARD, tokens

MAX_MESSAGE = 2000
"""Characters of a message that count for its template (a 10 MB line is not 10 MB of
pattern)."""
MAX_WORDS = 3
"""Different words a ``<*>`` position may take and still name the event (one template
per word); with one more it holds values. Average grouping accuracy over the labelled
systems in ``benchmarks/logeval``: never split 0.900, 2: 0.931, 3: 0.932, 4 and 5:
0.932 but Linux's user names start to split (0.694 → 0.632)."""
MAX_SPLIT = 64
"""Templates one cluster may split into; past it the position with the most words
becomes a value (three such positions are 27 already)."""

MAX_TEMPLATES = 20_000
"""Templates a miner makes at most (a log of endless unlike messages must not take
the memory of a monitor that runs for months)."""
OVERFLOW = "(more kinds of message than botwatch keeps apart)"
"""The text of the template for what comes past ``MAX_TEMPLATES``."""

Key = tuple[tuple[int, str], ...]
"""A template's words at its cluster's split positions: ((position, word), ...)."""


class Template:
    """One pattern: what ``TemplateMiner.add`` returns for a message.

    Its ``id`` and ``text`` are read live: a template merged into another (its split
    position turned out to hold values) answers with that one's."""

    __slots__ = ("_id", "_merged", "cluster", "count", "example", "key")

    def __init__(self, ident: int, cluster: _Cluster, key: Key = ()) -> None:
        self._id = ident
        self._merged: Template | None = None
        self.cluster = cluster
        self.key = key
        self.count = 0
        self.example = ""

    @property
    def live(self) -> Template:
        """The template this one is now (itself, or the one it merged into)."""
        t = self
        while t._merged is not None:
            t = t._merged
        return t

    @property
    def id(self) -> int:
        """The pattern's number, stable for life (the survivor's, once merged)."""
        return self.live._id

    @property
    def tokens(self) -> list[str]:
        """Its tokens: ``<*>`` where messages differ, its own words where they split."""
        t = self.live
        toks = list(t.cluster.tokens)
        for pos, word in t.key:
            toks[pos] = word
        return toks

    @property
    def text(self) -> str:
        """The template as text: ``Failed to send to user <*>: Forbidden``."""
        return " ".join(self.tokens)

    def __repr__(self) -> str:
        return f"Template({self.id}, {self.text!r})"


@dataclass(eq=False)
class _Cluster:
    """Messages alike enough to share tokens; its split positions divide it into
    templates (usually one)."""

    tokens: list[str]
    splits: dict[int, set[str]] = field(default_factory=dict)
    """Positions whose words still name the event, with the words seen there."""
    templates: dict[Key, Template] = field(default_factory=dict)
    """The live templates by their words at the split positions."""

    def key_of(self, toks: list[str]) -> Key:
        """The key of the template a message of these tokens belongs to."""
        return tuple((i, toks[i]) for i in sorted(self.splits))


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    clusters: list[_Cluster] = field(default_factory=list)


class TemplateMiner:
    """Templates from messages; ``add()`` one at a time."""

    def __init__(
        self, *, depth: int = 2, similarity: float = 0.6, max_children: int = 100,
        max_cache: int = 50_000, shapes: bool = True, max_words: int = MAX_WORDS,
        max_clusters: int = 200, max_templates: int = MAX_TEMPLATES,
    ) -> None:  # fmt: skip
        self.depth = depth
        """Tokens (after the length) that pick a leaf."""
        self.similarity = similarity
        self.max_children = max_children
        """Branches per node; past it new tokens share the wildcard branch (so a
        variable the masks miss cannot grow the tree without bound)."""
        self.max_clusters = max_clusters
        """Clusters per leaf; past it a message joins the most alike one there."""
        self.max_templates = max_templates
        """Templates in all; past it a message joins the most alike cluster of its leaf,
        or the one overflow template (``OVERFLOW``)."""
        self._overflowed: Template | None = None
        self.max_cache = max_cache
        """Masked messages, and digit shapes, remembered (each)."""
        self.shapes = shapes
        """Whether a message of a digit shape seen before skips masking (off only to
        check that it groups exactly as masking every message does)."""
        self.max_words = max_words
        """Words a position may take and still split templates (0: never split)."""
        self.merges = 0
        """Templates merged into another so far (their ``id`` changed)."""
        self._all: list[Template] = []
        self._root = _Node()
        self._cache: dict[str, Template] = {}
        self._shapes: dict[_Shape, Template | _Coded] = {}
        """Templates by their messages' digit shape (``_shape``): repeats skip masking."""

    @property
    def templates(self) -> list[Template]:
        """The live templates (not merged into another), oldest first."""
        return [t for t in self._all if t._merged is None]

    def __len__(self) -> int:
        return len(self._all) - self.merges  # each merge retires one template

    def __iter__(self) -> Iterator[Template]:
        return iter(self.templates)

    def add(self, message: str) -> Template:
        """The template ``message`` belongs to (created or widened as needed)."""
        text = message[:MAX_MESSAGE]
        # Messages of one digit shape mask alike (see ``_shape``): a repeat of a shape
        # skips masking. Where masking kept a status code, the code's own digits are
        # part of the key too. A cluster split by words needs the words: no shortcut.
        shape, runs = _shape(text) if self.shapes else (None, ())
        entry = self._shapes.get(shape) if shape is not None else None
        if entry is not None:
            t = entry if isinstance(entry, Template) else entry.get(runs)
            if t is not None:
                t = t.live
                if not t.cluster.splits:
                    t.count += 1
                    return t
        toks = tokens(text)
        key = " ".join(toks)
        t = self._cache.get(key)
        if t is None:
            t = self._place(toks)
            if len(self._cache) >= self.max_cache:
                self._cache.clear()  # bounded memory on endless unique input
            self._cache[key] = t
            if not t.example:
                t.example = message
        else:
            t = t.live
        if shape is not None and not t.cluster.splits:
            self._remember(shape, runs, key, t, entry)
        t.count += 1
        return t

    def _remember(self, shape: _Shape, runs: tuple[bytes, ...], key: str, t: Template,
                  entry: Template | _Coded | None) -> None:  # fmt: skip
        kept = _DIGIT_RUN.findall(key)
        if not kept:
            new: Template | _Coded = t
        else:
            # Only when each digit masking kept is one of the message's 3-digit runs,
            # and only one of them, is it known which runs the key must hold.
            values = [r.decode() for r in runs]
            if not all(len(d) == 3 and values.count(d) == 1 for d in kept):
                return
            new = entry if isinstance(entry, _Coded) else _Coded(
                tuple(values.index(d) for d in kept))  # fmt: skip
            new.put(runs, t)
        if len(self._shapes) >= self.max_cache:
            self._shapes.clear()
        self._shapes[shape] = new

    def match(self, message: str) -> Template | None:
        """The template ``message`` would join, without changing anything."""
        toks = tokens(message[:MAX_MESSAGE])
        cached = self._cache.get(" ".join(toks))
        if cached is not None:
            return cached.live
        leaf = self._leaf(toks, create=False)
        if leaf is None:
            return None
        c = self._best(leaf, toks)
        if c is None:
            return None
        return c.templates.get(c.key_of(toks))

    # ---- the tree -----------------------------------------------------------------

    def _leaf(self, toks: list[str], *, create: bool) -> _Node | None:
        node = self._root.children.get(str(len(toks)))
        if node is None:
            if not create:
                return None
            node = self._root.children[str(len(toks))] = _Node()
        for tok in toks[: self.depth]:
            key = WILDCARD if _variable(tok) else tok
            nxt = node.children.get(key)
            if nxt is None:
                if not create:
                    nxt = node.children.get(WILDCARD)
                    if nxt is None:
                        return None
                elif len(node.children) >= self.max_children:
                    nxt = node.children.setdefault(WILDCARD, _Node())
                else:
                    nxt = node.children[key] = _Node()
            node = nxt
        return node

    def _best(self, leaf: _Node, toks: list[str], *, anyhow: bool = False) -> _Cluster | None:
        """The leaf's cluster most like ``toks``, if alike enough (``anyhow``: however
        little, as long as nothing forbids it)."""
        best: _Cluster | None = None
        best_score = -1.0
        n = len(toks)
        for c in leaf.clusters:
            same = 0
            wild = 0
            for a, b in zip(c.tokens, toks, strict=True):
                if a == WILDCARD:
                    if _CODE.search(b):
                        break  # a code does not join a place other words made variable
                    wild += 1
                elif a == b:
                    # A masked token ("<*>:", "id=<*>") matches itself without saying
                    # the messages are alike: only constant words count.
                    same += WILDCARD not in a
                elif _CODE.search(a) or _CODE.search(b):
                    # A status code masking kept against another word or code: 429 is
                    # not 500 (nor "foo"), however alike the rest of the message is.
                    break
            else:
                score = same / n if n else 1.0
                if score > best_score or (score == best_score and best is not None
                                          and wild > best.tokens.count(WILDCARD)):  # fmt: skip
                    best, best_score = c, score
        if best is not None and (anyhow or best_score >= self.similarity):
            return best
        return None

    def _place(self, toks: list[str]) -> Template:
        leaf = self._leaf(toks, create=True)
        assert leaf is not None
        full = len(self._all) >= self.max_templates
        c = self._best(leaf, toks)
        if c is None and (full or len(leaf.clusters) >= self.max_clusters):
            # A full leaf, or a full miner: the message joins the cluster most like it.
            # Endless unlike messages (garbage) then cost a bounded look and bounded
            # memory, in a monitor that runs for months.
            c = self._best(leaf, toks, anyhow=True)
        if c is None:
            if full:
                return self._overflow()
            c = _Cluster(list(toks))
            leaf.clusters.append(c)
        else:
            for i, (a, b) in enumerate(zip(c.tokens, toks, strict=True)):
                if a != b and a != WILDCARD:
                    c.tokens[i] = WILDCARD
                    if self.max_words > 1 and not full and _word(a) and _word(b):
                        # Every message so far had ``a`` here: the templates so far
                        # are the ``a`` ones, and this message starts the ``b`` one.
                        c.splits[i] = {a}
                        for old in c.templates.values():
                            old.key = _with(old.key, i, a)
                        c.templates = {old.key: old for old in c.templates.values()}
            for i, words in list(c.splits.items()):
                words.add(toks[i])
                if len(words) > self.max_words or not _word(toks[i]) or full:
                    self._unsplit(c, i)
            while c.splits and len(c.templates) >= MAX_SPLIT:
                self._unsplit(c, max(c.splits, key=lambda i: len(c.splits[i])))
        key = c.key_of(toks)
        t = c.templates.get(key)
        if t is None:
            t = c.templates[key] = Template(len(self._all) + 1, c, key)
            self._all.append(t)
        return t

    def _overflow(self) -> Template:
        """The one template for what comes past ``max_templates`` and is like nothing
        kept."""
        if self._overflowed is None:
            self._overflowed = Template(len(self._all) + 1, _Cluster(OVERFLOW.split()))
            self._all.append(self._overflowed)
        return self._overflowed

    def _unsplit(self, c: _Cluster, pos: int) -> None:
        """Position ``pos`` of ``c`` holds values: templates differing only there merge
        into the oldest of them."""
        del c.splits[pos]
        kept: dict[Key, Template] = {}
        for t in sorted(c.templates.values(), key=lambda t: t._id):
            key = tuple(kv for kv in t.key if kv[0] != pos)
            first = kept.get(key)
            if first is None:
                t.key = key
                kept[key] = t
            else:
                t._merged = first
                first.count += t.count
                self.merges += 1
        c.templates = kept


_PUNCT = ".,:;()[]"
"""Punctuation around a word that does not make it another word."""


V = TypeVar("V")


class ByTemplate(Generic[V]):
    """Values kept per (template, tag), found by the template's ``id`` as it is now: when
    templates merge, the values of every merged one answer for the survivor (``pick``
    chooses between two; by default the one kept first)."""

    def __init__(self, miner: TemplateMiner, pick: Callable[[V, V], V] | None = None) -> None:
        self._miner = miner
        self._pick = pick
        self._items: list[tuple[Template, Hashable, V]] = []
        self._index: dict[tuple[int, Hashable], V] = {}
        self._merges = miner.merges

    def add(self, t: Template, tag: Hashable, value: V) -> None:
        """Keep ``value`` for ``t`` (and ``tag``)."""
        index = self._current()
        self._items.append((t, tag, value))
        self._put(index, (t.id, tag), value)

    def get(self, ident: int, tag: Hashable) -> V | None:
        """The value for the template whose id is now ``ident`` (and ``tag``)."""
        return self._current().get((ident, tag))

    def __len__(self) -> int:
        return len(self._current())

    def _current(self) -> dict[tuple[int, Hashable], V]:
        if self._merges != self._miner.merges:  # ids changed: key them as they are now
            self._merges = self._miner.merges
            self._index = {}
            for t, tag, value in self._items:
                self._put(self._index, (t.id, tag), value)
        return self._index

    def _put(self, index: dict[tuple[int, Hashable], V], key: tuple[int, Hashable],
             value: V) -> None:  # fmt: skip
        kept = index.get(key)
        index[key] = value if kept is None else (self._pick or _first)(kept, value)


def _first(kept: V, new: V) -> V:
    return kept


def _word(tok: str) -> bool:
    """A plain word (maybe with punctuation around it): what can name an event."""
    return tok.strip(_PUNCT).isalpha()


def _with(key: Key, pos: int, word: str) -> Key:
    return tuple(sorted((*key, (pos, word))))


_Shape = bytes | tuple[bytes, bytes]


class _Coded:
    """A shape whose masking keeps some of its 3-digit runs (status codes): the
    templates by the values of those runs."""

    __slots__ = ("at", "by_code")

    def __init__(self, at: tuple[int, ...]) -> None:
        self.at = at
        self.by_code: dict[tuple[bytes, ...], Template] = {}

    def get(self, runs: tuple[bytes, ...]) -> Template | None:
        return self.by_code.get(tuple(runs[i] for i in self.at))

    def put(self, runs: tuple[bytes, ...], t: Template) -> None:
        if len(self.by_code) < 1000:
            self.by_code[tuple(runs[i] for i in self.at)] = t


def _shape(text: str) -> tuple[_Shape | None, tuple[bytes, ...]]:
    """``text``'s digit shape and its 3-digit runs.

    Masking looks at digits in two ways only: a digit or not, and whether a run of
    exactly three starts with 1–5 (a status code). So the shape is the text with every
    digit a ``0``, plus the class of each 3-digit run's first digit: two messages of
    one shape mask alike, up to the runs kept as codes. None: digits of other
    scripts, which masking reads as digits too (not worth a shape of their own)."""
    if not text.isascii() and _OTHER_DIGIT.search(text):
        return None, ()
    raw = text.encode("utf-8", "surrogatepass")
    shape = raw.translate(_ZERO)
    if b"000" not in shape:
        return shape, ()
    runs = tuple(r for r in _RUNS.findall(raw) if len(r) == 3)
    if not runs:
        return shape, ()
    return (shape, bytes([r[0] for r in runs]).translate(_CLASS)), runs


_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_CLASS = bytes.maketrans(b"0123456789", b"0111110000")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
_RUNS = re.compile(rb"[0-9]{3,}")
_DIGIT_RUN = re.compile(r"\d+")
_CODE = re.compile(r"(?<!\d)[1-5]\d\d(?!\d)")
"""A status code in a token masking kept (``429:``, ``status=404``, ``(500)``)."""


def _variable(tok: str) -> bool:
    # A dotted name (a package, a host, a Java class) is as variable as a number: a
    # message that starts with one should meet its like in the tree.
    return WILDCARD in tok or tok.strip(_PUNCT).count(".") >= 2
