"""The roster as a Faust GlobalTable every worker holds whole (crm.reps is compacted)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec
from faust.types import EventT

from agents.table_reads import stored_value
from agents.table_writes import write
from schemas.events import RepUpdated
from streams.stages import UNASSIGNED, RosterEntry

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(RosterEntry)


def roster_entry(event: RepUpdated, at: int) -> RosterEntry:
    """What the stages need of a roster record (the manager's contact stays out)."""
    return RosterEntry(
        at=at,
        event_id=event.event_id,
        team=event.team,
        tier=event.tier,
        manager_id=event.manager_id,
        active=event.active,
    )


class RosterView(Mapping[str, RosterEntry]):
    """Read-only mapping rep_id → RosterEntry over the global table, latest record wins."""

    def __init__(self, table: Any, on_miss: Callable[[str], None] = lambda rep_id: None) -> None:
        self.table = table
        self._on_miss = on_miss

    def __getitem__(self, rep_id: str) -> RosterEntry:
        entry = self._lookup(rep_id)
        if entry is None:
            self._on_miss(rep_id)
            raise KeyError(rep_id)
        return entry

    def _lookup(self, rep_id: str) -> RosterEntry | None:
        raw = stored_value(self.table, rep_id)
        return None if raw is None else _decoder.decode(raw)

    def __iter__(self) -> Iterator[str]:
        for key in self.table:
            yield key.decode() if isinstance(key, bytes) else key

    def __len__(self) -> int:
        return len(self.table)

    def team_of(self, rep_id: str) -> str:
        """The rep's team, ``unassigned`` when the roster does not know the rep."""
        entry = self.get(rep_id)
        return UNASSIGNED if entry is None else entry.team

    async def upsert(self, rep_id: str, entry: RosterEntry, record: EventT) -> None:
        """Store ``entry`` (from input ``record``) unless a newer record of the rep is
        already known."""
        current = self._lookup(rep_id)  # a rep's first record is no miss
        if current is None or (entry.at, entry.event_id) > (current.at, current.event_id):
            await write(self.table, rep_id, _encoder.encode(entry), record)
