"""The deal-keyed upsert stage: each deal's current state and time-ordered history, and
the *deltas* it sends to the rep-keyed aggregates (docs/semantics.md, "Deal state").

Kafka Streams style: a deal contributes items to rep aggregates (its open pipeline entry,
its closes, its close-date pushes). When an update changes what the deal contributes,
the stage emits ``remove old item`` to the old owner and ``add new item`` to the new
one (or one ``add`` that names the item it replaces, for the same owner). Closes and
pushes are keyed by the update's event id, so applying one twice changes nothing; a rep
keeps its open deals as sums, so each open delta must be applied once, as the runtime's
receivers ensure (docs/topology.md, "Delivery"). All structs are msgspec structs: a delta
can travel over a topic repartitioned by rep, a DealState can live in a table
partitioned by deal.

History is pruned to what the rules still need: every update at or after the watermark
(they can still get a new neighbour) plus the last one before it (the *anchor*).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator

import msgspec

from schemas.events import DealUpdated
from streams.clock import DAY_US, day_of_date, to_micros
from streams.stall import StallRule

CLOSED = frozenset({"closed_won", "closed_lost"})
OPEN_ORDER = {"prospecting": 0, "qualification": 1, "proposal": 2, "negotiation": 3}
NEVER = -(1 << 62)


class Version(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One deal update, reduced to what the rules read (times in µs, days since epoch)."""

    at: int
    event_id: str
    rep_id: str
    account_id: str
    stage: str
    amount: float
    kind: str
    close_day: int | None
    created_at: dt.datetime
    snooze_day: int | None


def version_of(event: DealUpdated, at: int) -> Version:
    """The Version of an update that occurred at ``at`` (µs)."""
    close = event.expected_close_date
    snooze = event.snoozed_until
    return Version(
        at, event.event_id, event.rep_id, event.account_id, event.stage, event.amount,
        event.kind, None if close is None else day_of_date(close), event.created_at,
        None if snooze is None else day_of_date(snooze),
    )


class OpenDeal(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="open"):
    """An open deal in its owner's pipeline, and whether it is stalled at T."""

    deal_id: str
    account_id: str
    stage: str
    amount: float
    close_day: int | None
    stalled: bool


class Close(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="close"):
    """A deal closing (won or lost), credited to the closing update's rep."""

    deal_id: str
    event_id: str
    day: int
    won: bool
    amount: float
    expansion: bool
    cycle_days: float


class Push(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="push"):
    """An expected close date moved later by the update ``event_id``."""

    deal_id: str
    event_id: str
    day: int


Item = OpenDeal | Close | Push


class DealDelta(msgspec.Struct, frozen=True, array_like=True, gc=False, tag="delta"):
    """Add (sign +1) or remove (sign -1) one item of a rep's aggregate; an added open
    item may replace the rep's previous one of the deal (``replaces``), which the rep
    subtracts, as it keeps open deals as sums."""

    rep_id: str
    sign: int
    item: Item
    replaces: OpenDeal | None = None


class DealState(msgspec.Struct, kw_only=True, gc=False, omit_defaults=True):
    """Everything the deal stage keeps per deal."""

    deal_id: str
    history: list[Version] = msgspec.field(default_factory=list)
    pruned: bool = False  # history[0] had predecessors, now dropped
    anchor_run_start: int = NEVER  # start of the stage run that history[0] belongs to
    judged_before: int = NEVER  # deferred rules judged for updates before this time
    note_at: int = NEVER  # latest qualifying note on the deal
    stall_start: int = NEVER  # stall clock start of the current state
    stall_due: int | None = None  # first stream time at which it is stalled
    open: DealDelta | None = None  # the open-pipeline item currently applied
    facts: dict[str, list[DealDelta]] = msgspec.field(default_factory=dict)
    # Identities fired for this deal, created on first use: missing fields as
    # "stage:field", stalls as "stage@clock start", stale close dates as their day.
    fired: list[str | int] | None = None
    timer: int | None = None  # due time of this deal's entry in the timer queue

    @property
    def current(self) -> Version | None:
        """The update with the largest (occurred_at, event_id), if any."""
        return self.history[-1] if self.history else None

    def has_fired(self, identity: str | int) -> bool:
        """True when ``identity`` already fired for this deal."""
        return self.fired is not None and identity in self.fired

    def mark_fired(self, identity: str | int) -> None:
        """Remember that ``identity`` fired for this deal."""
        if self.fired is None:
            self.fired = [identity]
        else:
            self.fired.append(identity)


def upsert(state: DealState, version: Version) -> tuple[list[DealDelta], list[int]]:
    """Insert an update into the history. Returns the deltas of its closes and pushes
    (each removal before its replacement) and the times of updates whose pair now
    needs a deferred judgement (a won close or a jump over stages). The open-pipeline
    item is refreshed separately, by :func:`refresh`."""
    history = state.history
    last = history[-1] if history else None
    deltas: list[DealDelta] = []
    deferred: list[int] = []
    if last is None or (version.at, version.event_id) > (last.at, last.event_id):
        history.append(version)  # the common case: the newest update, a new last pair
        if last is None or not _plain(last, version):
            _refresh_facts(state, len(history) - 1, deltas, deferred)
        return deltas, deferred
    index = bisect.bisect(history, (version.at, version.event_id),
                          key=lambda v: (v.at, v.event_id))
    history.insert(index, version)
    _refresh_facts(state, index, deltas, deferred)
    if index + 1 < len(history):
        _refresh_facts(state, index + 1, deltas, deferred)
    return deltas, deferred


def same_item(before: Version, after: Version) -> bool:
    """True when ``after`` (appended right after ``before``) leaves the open-pipeline
    item, the stage run and the snooze as they were."""
    return (before.stage == after.stage and before.rep_id == after.rep_id
            and before.amount == after.amount and before.close_day == after.close_day
            and before.account_id == after.account_id
            and before.snooze_day == after.snooze_day)


def note(state: DealState, at: int) -> bool:
    """Record a qualifying note on the deal; True when it moved the latest note."""
    if state.note_at >= at:
        return False
    state.note_at = at
    return True


def facts_of(deal_id: str, prev: Version | None, version: Version) -> list[Item]:
    """Closes and pushes derived from one consecutive pair of the history."""
    items: list[Item] = []
    if version.stage in CLOSED and (prev is None or prev.stage not in CLOSED):
        items.append(Close(
            deal_id, version.event_id, version.at // DAY_US, version.stage == "closed_won",
            version.amount, version.kind == "expansion",
            (version.at - to_micros(version.created_at)) / 1_000_000 / 86400,
        ))
    if (
        prev is not None
        and prev.close_day is not None
        and version.close_day is not None
        and version.close_day > prev.close_day
    ):
        items.append(Push(deal_id, version.event_id, version.at // DAY_US))
    return items


def needs_judging(prev: Version | None, version: Version) -> bool:
    """True when a pair may break a deferred rule: a won close, or a jump over stages."""
    if version.stage == "closed_won":
        return prev is None or prev.stage not in CLOSED
    if prev is None or prev.stage == version.stage:
        return False
    before, after = OPEN_ORDER.get(prev.stage), OPEN_ORDER.get(version.stage)
    return before is not None and after is not None and after - before > 1


def _plain(prev: Version, version: Version) -> bool:
    """True for the common pair: no close, no push, no jump over stages."""
    if (prev.close_day is not None and version.close_day is not None
            and version.close_day > prev.close_day):
        return False
    if prev.stage == version.stage:
        return True
    return version.stage not in CLOSED and not needs_judging(prev, version)


def _refresh_facts(state: DealState, index: int, deltas: list[DealDelta],
                   deferred: list[int]) -> None:
    if index == 0 and state.pruned:
        return  # the anchor's pair is final
    history = state.history
    version = history[index]
    prev = history[index - 1] if index > 0 else None
    old = state.facts.get(version.event_id)
    if prev is not None and old is None and _plain(prev, version):
        return  # the common case: nothing to apply now, nothing applied before
    if needs_judging(prev, version):
        deferred.append(version.at)
    items = facts_of(state.deal_id, prev, version)
    if not items and old is None:
        return
    new = [DealDelta(version.rep_id, 1, item) for item in items]
    old = old or []
    if old == new:
        return
    deltas.extend(DealDelta(d.rep_id, -1, d.item) for d in old if d not in new)
    deltas.extend(d for d in new if d not in old)
    if new:
        state.facts[version.event_id] = new
    else:
        del state.facts[version.event_id]


def refresh(state: DealState, now: int | None, rule: StallRule) -> list[DealDelta]:
    """Recompute the stall clock and the open-pipeline item at stream time ``now``; the
    deltas when the item changed. A changed item of the same owner is one ``add`` that
    ``replaces`` the old item; a new owner gets ``add`` after the old one's ``remove``."""
    current = state.history[-1]
    old = state.open
    if current.stage in CLOSED:
        state.stall_due = None
        state.open = None
        return [] if old is None else [DealDelta(old.rep_id, -1, old.item)]
    start = run_start(state)
    if state.note_at > start:
        start = state.note_at
    due = rule.due(current.stage, start, current.snooze_day)
    state.stall_start, state.stall_due = start, due
    stalled = due is not None and now is not None and now >= due
    item = OpenDeal(state.deal_id, current.account_id, current.stage, current.amount,
                    current.close_day, stalled)
    if old is not None and old.rep_id == current.rep_id:
        if old.item == item:
            return []
        state.open = DealDelta(current.rep_id, 1, item)
        return [DealDelta(current.rep_id, 1, item, old.item)]
    state.open = DealDelta(current.rep_id, 1, item)
    return [state.open] if old is None else [DealDelta(old.rep_id, -1, old.item), state.open]


def run_start(state: DealState, index: int | None = None) -> int:
    """When the stage run containing ``history[index]`` (default: the last) began."""
    history = state.history
    i = len(history) - 1 if index is None else index
    stage = history[i].stage
    while i > 0 and history[i - 1].stage == stage:
        i -= 1
    if i == 0 and state.pruned:
        return state.anchor_run_start
    return history[i].at


def unjudged(state: DealState, before: int) -> Iterator[tuple[Version | None, Version]]:
    """Consecutive pairs (prev, update) whose update is not yet judged and occurred
    before ``before``; marks them judged."""
    history = state.history
    for i, version in enumerate(history):
        if state.judged_before <= version.at < before and not (i == 0 and state.pruned):
            yield (history[i - 1] if i > 0 else None), version
    state.judged_before = max(state.judged_before, before)


def pending_pairs(state: DealState) -> Iterator[tuple[Version | None, Version]]:
    """Consecutive pairs whose update is not judged yet (may still change)."""
    history = state.history
    for i, version in enumerate(history):
        if version.at >= state.judged_before and not (i == 0 and state.pruned):
            yield (history[i - 1] if i > 0 else None), version


def prune(state: DealState, watermark: int) -> None:
    """Drop history before the anchor (the last update before ``watermark``).

    Call only once every update before the watermark that needs a deferred judgement
    has had it; the dropped updates' items stay applied in the rep aggregates, they
    can no longer change.
    """
    history = state.history
    before = bisect.bisect_left(history, watermark, key=lambda v: v.at)
    if before == 0:
        return
    anchor = before - 1
    state.anchor_run_start = run_start(state, anchor)
    for version in history[: anchor + 1]:
        state.facts.pop(version.event_id, None)
    del history[:anchor]
    state.pruned = True
