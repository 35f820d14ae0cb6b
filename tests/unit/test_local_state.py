"""Local table state is wiped after an unclean stop, kept after a clean one."""

from __future__ import annotations

from pathlib import Path

from agents.local_state import MARKER, close_local_state, open_local_state


def test_a_clean_stop_keeps_the_local_tables(tmp_path: Path) -> None:
    tables = tmp_path / "v1" / "tables"
    assert open_local_state(tables) is False
    (tables / "reps-0.db").mkdir()
    close_local_state(tables)
    assert open_local_state(tables) is False
    assert (tables / "reps-0.db").is_dir()


def test_an_unclean_stop_wipes_the_local_tables_and_marks_the_folder_again(
    tmp_path: Path,
) -> None:
    tables = tmp_path / "tables"
    open_local_state(tables)
    (tables / "reps-0.db").mkdir()
    (tables / "reps-0.db" / "CURRENT").write_text("x")
    (tables / "clock.offsets").write_text("1")
    assert open_local_state(tables) is True  # never closed: a crash
    assert sorted(p.name for p in tables.iterdir()) == [MARKER]
