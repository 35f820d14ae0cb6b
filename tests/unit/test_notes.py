"""Note quality and the note-time index (streams/notes.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streams.clock import DAY_US
from streams.notes import NoteIndex, is_qualifying, normal_form
from streams.policy_model import NoteQuality

DEFAULT = NoteQuality()  # min 20 characters; n/a, na, call, email, tbd, -, .
SHORT = replace(DEFAULT, min_chars=1)


@pytest.mark.parametrize(("body", "quality", "expected"), [
    ("", DEFAULT, False),
    ("    \n\t ", SHORT, False),
    ("x" * 19, DEFAULT, False),
    ("x" * 20, DEFAULT, True),
    ("   " + "z" * 19 + "   ", DEFAULT, False),  # whitespace does not count
    ("Discussed pricing and next steps with the CFO.", DEFAULT, True),
    ("call", SHORT, False),
    ("  CALL. ", SHORT, False),
    (" N/A. ", SHORT, False),
    ("(call)", SHORT, False),
    ("call back", SHORT, True),
    ("-", SHORT, False),  # placeholder "-": normal form empty
    ("--", SHORT, False),
    ("...!?", SHORT, False),  # punctuation only is a placeholder
    ("n/a " * 10, DEFAULT, True),  # long enough and not a placeholder
    ("!!!!!!!!!!!!!!!!!!!!!!!!call!!!!!!!!!!!!!!!!!!!!!!!!", DEFAULT, False),
    ("Call.", replace(DEFAULT, min_chars=1, placeholders=frozenset()), True),
    ("Email", replace(SHORT, placeholders=frozenset({"EMAIL!"})), False),
])
def test_is_qualifying(body: str, quality: NoteQuality, expected: bool) -> None:
    assert is_qualifying(body, quality) is expected


def test_normal_form_strips_edges_only() -> None:
    assert normal_form(" N/A. ") == "n/a"
    assert normal_form("--") == ""
    assert normal_form("a - b") == "a - b"


def test_min_chars_counts_code_points() -> None:
    assert is_qualifying("é" * 20, DEFAULT)
    assert not is_qualifying("é" * 19, DEFAULT)


class TestNoteIndex:
    def test_any_between_is_inclusive(self) -> None:
        index = NoteIndex()
        index.add("a1", 100)
        index.add("a1", 50)  # out of order
        assert index.times["a1"] == [50, 100]
        assert index.any_between("a1", 100, 200)
        assert index.any_between("a1", 0, 50)
        assert not index.any_between("a1", 51, 99)
        assert not index.any_between("a2", 0, 10**18)

    def test_last_day_keeps_the_latest(self) -> None:
        index = NoteIndex()
        index.add("a1", 5 * DAY_US)
        index.add("a1", 3 * DAY_US)
        assert index.last_day["a1"] == 5

    def test_prune(self) -> None:
        index = NoteIndex()
        index.add("old", 1 * DAY_US)
        index.add("mixed", 1 * DAY_US)
        index.add("mixed", 9 * DAY_US)
        index.prune(first_day_kept=5, first_time_kept=5 * DAY_US)
        assert "old" not in index.times and "old" not in index.last_day
        assert index.times["mixed"] == [9 * DAY_US]
        assert index.last_day == {"mixed": 9}
