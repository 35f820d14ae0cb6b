"""Local table state that a crash cannot leave ahead of its changelog.

Faust writes a table's local RocksDB store at once and its changelog through the
producer. After a SIGKILL the local store can therefore hold writes whose changelog
records (and whose output messages) were never sent, and recovery would mix the two.
A worker that did not stop cleanly last time rebuilds its tables from the changelogs
instead (as Kafka Streams does after an unclean shutdown under exactly-once).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)
MARKER = ".latitude-running"


def open_local_state(table_dir: Path) -> bool:
    """Mark ``table_dir`` as in use; first wipe it when the previous worker using it
    never reached :func:`close_local_state`. Returns True when it was wiped."""
    marker = table_dir / MARKER
    wiped = marker.exists()
    if wiped:
        log.warning("%s: the last worker did not stop cleanly; rebuilding local tables "
                    "from their changelogs", table_dir)
        for child in table_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            elif child != marker:
                child.unlink()
    table_dir.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return wiped


def close_local_state(table_dir: Path) -> None:
    """Mark ``table_dir`` as cleanly closed (every write flushed and committed)."""
    (table_dir / MARKER).unlink(missing_ok=True)
