"""Following real files through appends, rotation, truncation, deletion and restarts."""

from __future__ import annotations

import os
from pathlib import Path

from botwatch.logs.follow import Follower


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def test_new_lines_and_a_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("one\ntwo\n")
    f = Follower(log)
    assert f.poll() == [b"one", b"two"]
    append(log, "thr")
    assert f.poll() == []  # not a whole line yet
    append(log, "ee\nfour\n")
    assert f.poll() == [b"three", b"four"]
    assert f.poll() == []


def test_rotation_by_rename_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("a\n")
    f = Follower(log)
    assert f.poll() == [b"a"]
    append(log, "b\nlast words")  # written just before the rotation
    log.rename(tmp_path / "bot.log.1")
    log.write_text("new 1\n")
    assert f.poll() == [b"b", b"last words", b"new 1"]
    assert f.rotations == 1
    append(log, "new 2\n")
    assert f.poll() == [b"new 2"]


def test_truncation_starts_again_from_the_top(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("x" * 100 + "\n")
    f = Follower(log)
    assert len(f.poll()) == 1
    os.truncate(log, 0)
    append(log, "after\n")
    assert f.poll() == [b"after"] and f.truncations == 1


def test_a_file_that_appears_later_or_is_deleted(tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    f = Follower(log)
    assert f.poll() == []
    log.write_text("hello\n")
    assert f.poll() == [b"hello"]
    log.unlink()
    assert f.poll() == []  # no crash
    log.write_text("again\n")
    assert f.poll() == [b"again"]


def test_a_restart_resumes_where_it_was(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("1\n2\n")
    f = Follower(log)
    assert f.poll() == [b"1", b"2"]
    saved = f.position
    f.close()
    append(log, "3\n")
    again = Follower(log, position=saved)
    assert again.poll() == [b"3"]  # neither 1 and 2 again, nor 3 skipped
    log.rename(tmp_path / "old.log")
    log.write_text("fresh\n")
    other = Follower(log, position=saved)  # a different file now: from its start
    assert other.poll() == [b"fresh"]


def test_from_end_skips_the_backlog(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text("old\n" * 1000)
    f = Follower(log, from_end=True)
    assert f.poll() == []
    append(log, "new\n")
    assert f.poll() == [b"new"]


def test_lines_from_pieces_and_a_line_too_long_is_cut() -> None:
    from botwatch.logs.read import LineSplitter

    s = LineSplitter(max_line=10)
    assert s.feed(b"ab") == [] and s.feed(b"c\nde") == [b"abc"] and s.held == 2
    assert s.feed(b"f\n\ng\n") == [b"def", b"", b"g"] and s.held == 0
    # No newline in sight past max_line: cut there, the rest starts a new line.
    out = [line for piece in [b"x" * 4] * 3 for line in s.feed(piece)]
    assert out == [b"x" * 10] and s.cut == 1 and s.held == 0
    assert s.feed(b"y" * 25 + b"\nz") == [b"y" * 10]  # a whole long line is cut too
    assert s.cut == 2 and s.end() == [b"z"] and s.end() == []
    s.feed(b"half")
    s.reset()  # the file was truncated: the half line is gone
    assert s.feed(b"new\n") == [b"new"]


def test_a_position_never_counts_a_half_written_line(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_bytes(b"one\ntw")
    f = Follower(log)
    assert f.poll() == [b"one"]
    assert f.position is not None and f.position.offset == 4
    with log.open("ab") as fh:
        fh.write(b"o\n")
    assert f.poll() == [b"two"] and f.position.offset == 8
