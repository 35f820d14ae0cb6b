"""The stream topology's agents: ingest → keyed stages → outputs (docs/topology.md).

Every agent is thin: decode the routed record, load the key's state, call the pure
stage, store the state, send what the stage returned.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

import faust
import msgspec
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP

from agents import routing, topics
from agents.batches import consume
from agents.direct_send import DirectTopic
from agents.due_index import DueIndex
from agents.keyed_state import Entry, KeyedState, Outgoing, Resends
from agents.metrics import IngestCounters
from agents.outbox import Outbox
from agents.partition_clock import PartitionTime, Watermark, judge, reassigned
from agents.roster import RosterView, roster_entry
from agents.sent_digests import SentDigests
from agents.settings import Settings
from agents.snapshot_latency import SnapshotLatency
from agents.snapshot_schedule import SnapshotSchedule
from agents.store_options import rocksdb_options
from agents.table_writes import write
from agents.time_slice import TimeSlice
from schemas.decode import encode
from schemas.events import (
    ApprovalDecided,
    ApprovalRequested,
    DealUpdated,
    DiscountGranted,
    Event,
    NoteLogged,
    RepUpdated,
    SurveySubmitted,
)
from schemas.outputs import Alert, KpiSnapshot
from streams.clock import span_micros, to_micros
from streams.notes import is_qualifying
from streams.policy_model import Policy
from streams.stages import (
    AccountStage,
    AccountState,
    Clock,
    DecisionStage,
    DecisionState,
    RepFigures,
    RepStage,
    RepState,
    StepResult,
    TeamStage,
    TeamState,
)

_clock_encoder = msgspec.msgpack.Encoder()
_partitioner = DefaultPartitioner()
PARTITION_CACHE_KEYS = 1 << 14  # recent keys whose partition is kept (about 4 MB)
_clock_decoder = msgspec.msgpack.Decoder(PartitionTime)
CLOCK_REFRESH_SECONDS = 0.5  # how stale other workers' partition times may be (W only lags)
# Changelog records Faust holds per table while rebuilding state before it applies them
# (its default 1,000): a rep's record runs to 100 KB, so 1,000 of them were ~110 MB.
RECOVERY_BUFFER_RECORDS = 100
DECISION_EVENTS = (DiscountGranted, ApprovalRequested, ApprovalDecided)


@lru_cache(maxsize=PARTITION_CACHE_KEYS)
def partition_of_key(key: bytes, count: int) -> int:
    """The partition of ``count`` that the producer's partitioner gives ``key``. Its
    murmur2 is pure Python (about 4 µs a key) and runs for every message sent, mostly
    for keys sent recently (a rep's, a deal's), so recent keys are remembered."""
    partitions = list(range(count))
    return int(_partitioner(key, partitions, partitions))


class Pipeline:
    """Topics, tables and agents of one Latitude worker."""

    def __init__(
        self, app: faust.App, settings: Settings, policy: Policy, counters: IngestCounters,
        latency: SnapshotLatency,
    ) -> None:
        self.app = app
        self.counters = counters
        self.latency = latency
        self.settings = settings
        self.policy = policy
        self.lateness = span_micros(policy.lateness_days)
        internal = self._internal_topic
        self.by_account = internal("by-account")
        self.by_deal = internal("by-deal")
        self.by_rep = internal("by-rep")
        self.by_team = internal("by-team")
        out = self._output_topic
        self.violations = out(topics.VIOLATIONS)
        self.snapshots = out(topics.KPI_SNAPSHOTS)
        self.alerts = out(topics.ALERTS)
        self.roster = RosterView(self._table("roster", global_=True), counters.roster_miss)
        self.clock = self._table("clock", global_=True)
        self._inputs = {settings.topic(name) for name in topics.INPUT_TOPICS}
        self._prefix_len = len(settings.topic_prefix)
        self._short: dict[str, str] = {}
        # The input partitions this worker reads (owned) and the others' entries.
        self._partition_times = Watermark(self.lateness, settings.idle_partition_seconds)
        self._unloaded: set[str] = set()  # owned, their stored entry not read yet
        self._clock_unwritten: dict[str, faust.EventT] = {}  # source -> last record
        self._others_read = 0.0
        self._input_partitions: set[str] | None = None
        self._resends: dict[tuple[str, int], Resends] = {}
        self._wall_now: int | None = None
        self._last_now, self._last_moved = 0, time.monotonic()
        self._rep_team: dict[str, str] = {}
        self.account_stage = AccountStage(policy, self.roster)
        self.decision_stage = DecisionStage(policy, self.roster)
        self.rep_stage = RepStage(policy, self.roster)
        self.team_stage = TeamStage(policy)
        cached, per_rep = settings.state_cache_keys, settings.rep_cache_keys
        self.accounts = self._states("accounts", AccountState, self.by_account, cached)
        self.decisions = self._states("decisions", DecisionState, self.by_deal, cached)
        # Reps and teams are snapshotted key by key each interval: few keys, indexed.
        self.reps = self._states("reps", RepState, self.by_rep, per_rep, track_changes=True)
        self.teams = self._states("teams", TeamState, self.by_team, per_rep,
                                  track_changes=True)
        self.account_due = DueIndex(self.accounts, self.account_stage.next_due)
        self.decision_due = DueIndex(self.decisions, self.decision_stage.next_due)
        self._sent = SentDigests()  # snapshots: emit on change only
        self._stage_names = {topic.get_topic_name(): stage for topic, stage in (
            (self.by_account, "by-account"), (self.by_deal, "by-deal"),
            (self.by_rep, "by-rep"), (self.by_team, "by-team"))}
        self._by_rep_name = self.by_rep.get_topic_name()
        self._by_account_name = self.by_account.get_topic_name()
        self._by_deal_name = self.by_deal.get_topic_name()
        self._by_team_name = self.by_team.get_topic_name()
        self._violations_name = self.violations.name
        # Where the pipeline sends: straight to the producer (agents/direct_send.py).
        self._topics = {name: DirectTopic(app, name) for name in (
            self._by_account_name, self._by_deal_name, self._by_rep_name, self._by_team_name)}
        self._topics[self._violations_name] = self.violations
        self._tick_now: dict[int, int] = {}  # team partition -> stream time of its last pass
        self.rep_schedule = SnapshotSchedule(
            settings.full_snapshot_seconds, settings.snapshot_budget, time.monotonic)
        keyed_stages = {self._by_account_name, self._by_deal_name, self._by_rep_name}
        self.ingest_outbox, self.account_outbox, self.decision_outbox = (
            Outbox(self._topics, keyed_stages, self._partition) for _ in range(3))
        self.rep_outbox = Outbox(self._topics, {self._by_team_name}, self._partition)
        app.agent(self.by_account, name="account-stage")(self.account_agent)
        app.agent(self.by_deal, name="decision-stage")(self.decision_agent)
        app.agent(self.by_rep, name="rep-stage")(self.rep_agent)
        app.agent(self.by_team, name="team-stage")(self.team_agent)
        app.timer(settings.snapshot_interval_seconds, name="ticks")(self.send_ticks)
        app.on_partitions_revoked.connect(self.on_revoked)
        app.on_partitions_assigned.connect(self.on_assigned)

    # ------------------------------------------------------------------ wiring helpers

    def _internal_topic(self, stage: str) -> faust.TopicT:
        return self.app.topic(
            topics.internal_topic(self.settings, stage),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.settings.topic_partitions,
        )

    def _output_topic(self, name: str) -> DirectTopic:
        return DirectTopic(self.app, self.settings.topic(name))

    def _table(self, name: str, *, global_: bool = False) -> Any:
        factory = self.app.GlobalTable if global_ else self.app.Table
        return factory(
            name,
            key_type=bytes,  # bytes ⇒ Faust's "raw" codec: states are msgpack already
            value_type=bytes,
            partitions=self.settings.topic_partitions,
            options=rocksdb_options(self.settings),
            recovery_buffer_size=RECOVERY_BUFFER_RECORDS,
        )

    def _states(self, name: str, state_type: type, topic: faust.TopicT, cache_keys: int, *,
                track_changes: bool = False) -> KeyedState[Any]:
        topic_name = topic.get_topic_name()

        def partition_of(key: str) -> int:
            return self._partition(topic_name, key.encode())

        return KeyedState(self._table(name), state_type, partition_of, cache_keys,
                          track_changes)

    def _partition(self, topic_name: str, key: bytes) -> int:
        """The partition of ``topic_name`` that owns ``key``: the producer's partitioner
        over the consumer's metadata (the producer's lacks a topic until the first send
        to it, and /metrics reads stored keys before that, agents/producer_metadata.py)."""
        count = self.app.consumer.topic_partitions(topic_name) or self.settings.topic_partitions
        return partition_of_key(key, count)

    # ------------------------------------------------------------------ stream time

    def clock_now(self) -> Clock:
        """Stream time T and the watermark W over every input partition: this worker's
        own partitions as it tracks them, the others' as last read from the clock table
        (re-read at most every CLOCK_REFRESH_SECONDS: a stale entry only holds W back)."""
        wall = time.time()
        if wall - self._others_read > CLOCK_REFRESH_SECONDS:
            self._others_read = wall
            self._partition_times.others({
                key.decode() if isinstance(key, bytes) else key: _clock_decoder.decode(raw)
                for key, raw in self.clock.items()
            })
        return self._partition_times.clock(wall, self._wall_now or 0, self._input_partitions)

    def admit(self, record: faust.EventT, at: int, behind: bool) -> bool:
        """Judge input ``record``, event time ``at``, against its partition's own stream
        time: False when it is late. A replayed record gets its first verdict again.
        Keeps the partition's entry for the clock table (written by :meth:`flush_ingest`)
        when it changed or is getting old."""
        wall = time.time()
        message = record.message
        source = f"{message.topic}:{message.partition}"
        offset = message.offset
        known = self._partition_times.owned.get(source)
        if known is None or source in self._unloaded:
            self._unloaded.discard(source)
            stored = self.clock.get(source)
            known = reassigned(_clock_decoder.decode(stored) if stored is not None else None,
                               wall)
        late, latest = judge(known, offset, at, self.lateness, behind, wall)
        self._partition_times.own(source, latest)
        # Every caught-up record is written too: the entry then names the partition's
        # last record, which tells a restarted worker there is nothing left to wait for.
        if not behind or (latest.at, latest.hold, latest.behind, latest.late) != (
            known.at, known.hold, known.behind, known.late
        ) or wall - known.seen > self.settings.idle_partition_seconds / 4:
            self._clock_unwritten[source] = record
        return not late

    async def flush_ingest(self) -> None:
        """Send what the batch of input records routed, and write the clock entries
        kept since the last flush, each once, before the batch is acknowledged."""
        await self.ingest_outbox.flush()
        unwritten, self._clock_unwritten = self._clock_unwritten, {}
        owned = self._partition_times.owned
        for source, record in unwritten.items():
            await write(self.clock, source, _clock_encoder.encode(owned[source]), record)

    # ------------------------------------------------------------------ ingest routing

    async def route(self, event: Event, record: faust.EventT, behind: bool) -> bool:
        """Send a validated ``event`` (decoded from input ``record``) to the stages that
        own its keys (the roster also to its table); False when the event is late for
        its partition and was not routed. ``behind``: more records are already waiting
        in the event's partition."""
        at = to_micros(event.occurred_at)
        if not self.admit(record, at, behind):
            return False
        clock = self.clock_now()
        if isinstance(event, RepUpdated):
            await self.roster.upsert(event.rep_id, roster_entry(event, at), record)
        qualifying = None
        if isinstance(event, NoteLogged):
            qualifying = is_qualifying(event.body, self.policy.notes)
            event = msgspec.structs.replace(event, body="")  # the body goes no further
        source = self._short_source(f"{record.message.topic}:{record.message.partition}")
        for seq, (topic, key) in enumerate(self._destinations(event, qualifying)):
            origin = routing.Origin(source, record.message.offset, seq)
            message = routing.EventMsg(event, clock.now, clock.watermark, origin, qualifying)
            self.ingest_outbox.add([(topic, key.encode(), routing.encoder.encode(message))])
        return True

    def _destinations(
        self, event: Event, qualifying: bool | None
    ) -> list[tuple[str, str]]:
        """Which stages own a piece of ``event`` (their topic names), and under which key
        (docs/topology.md). A note that does not qualify changes nothing on its deal (the
        stall clock)."""
        if isinstance(event, DealUpdated):
            return [(self._by_deal_name, event.deal_id), (self._by_account_name, event.account_id)]
        if isinstance(event, NoteLogged):
            found = [(self._by_account_name, event.account_id), (self._by_rep_name, event.rep_id)]
            if qualifying and event.deal_id is not None:
                found.append((self._by_deal_name, event.deal_id))
            return found
        if isinstance(event, DECISION_EVENTS):
            return [(self._by_deal_name, event.deal_id)]
        if isinstance(event, SurveySubmitted):
            return [(self._by_account_name, event.account_id), (self._by_rep_name, event.rep_id)]
        return [(self._by_rep_name, event.rep_id)]

    # ------------------------------------------------------------------ stage agents

    async def account_agent(self, stream: faust.StreamT) -> None:
        """Deals and notes, keyed by account."""
        await self._run_keyed(stream, self.accounts, self.account_stage, self.account_due,
                              self.account_outbox)

    async def decision_agent(self, stream: faust.StreamT) -> None:
        """Discounts and approvals, keyed by deal."""
        await self._run_keyed(stream, self.decisions, self.decision_stage, self.decision_due,
                              self.decision_outbox)

    async def consume(
        self,
        stream: faust.StreamT,
        handle: Callable[[faust.EventT], Awaitable[None]],
        flush: Callable[[], Awaitable[None]],
        batch_seconds: float | None = None,
    ) -> None:
        """Process ``stream`` in batches, waiting at most ``batch_seconds`` (default
        ``LATITUDE_BATCH_SECONDS``) for one to fill: each key a batch changes is written
        once, by ``flush``, before the batch is acknowledged (docs/topology.md)."""
        await consume(stream, self.settings.batch_max,
                      batch_seconds or self.settings.batch_seconds, handle, flush)

    async def _run_keyed(
        self, stream: faust.StreamT, states: KeyedState[Any], stage: Any, due: DueIndex,
        outbox: Outbox,
    ) -> None:
        async def handle(event: faust.EventT) -> None:
            await self._keyed_event(event, states, stage, due, outbox)

        async def flush() -> None:
            # Sent before the states are written: a replay of the batch sends again
            # what a crash in between lost (the states remember sending nothing yet).
            await outbox.flush()
            await states.flush()

        await self.consume(stream, handle, flush)

    async def _keyed_event(
        self, event: faust.EventT, states: KeyedState[Any], stage: Any, due: DueIndex,
        outbox: Outbox,
    ) -> None:
        message = routing.decoder.decode(event.value)
        if isinstance(message, routing.TickMsg):
            await self._keyed_tick(event, message, states, stage, due, outbox)
            return
        turn = TimeSlice()
        for at, first, key, item in self._items(event, message):
            resent = await self._resend_up_to(states, event.message, at, outbox)
            outbox.add(resent.get(key, []))
            entry = self._fresh_entry(states, key, at, item)
            if entry is not None:
                clock = Clock(item.now, item.watermark)
                if isinstance(item, routing.AccountMsg):
                    result = stage.apply(entry.state, item.message, clock)
                else:
                    assert isinstance(item, routing.EventMsg)
                    result = stage.apply(entry.state, item.event, clock, item.qualifying)
                self._step(states, due, key, event, entry, result, clock, at, first, outbox)
            await turn.check()

    async def _keyed_tick(
        self, event: faust.EventT, tick: routing.TickMsg, states: KeyedState[Any],
        stage: Any, due: DueIndex, outbox: Outbox,
    ) -> None:
        record = event.message
        at = routing.position(record.offset)
        clock = Clock(tick.now, tick.watermark)
        sent_before = await self._resend_up_to(states, record, at, outbox)
        due_keys = set(due.pop_due(record.partition, clock.now)) | sent_before.keys()
        # In origin order: a tick's messages from several keys share its offset.
        turn = TimeSlice()
        for key in sorted(due_keys, key=routing.first_seq):
            await turn.check()
            entry = states.entry(key)
            if entry is None:
                continue
            if entry.processed(at):
                # A replayed tick: the key's state is past it, and still due later.
                outbox.add(sent_before.get(key, []))
                due.schedule(record.partition, key, entry.state)
                continue
            self._step(states, due, key, event, entry, stage.tick(entry.state, clock), clock,
                       at, routing.first_seq(key), outbox)

    @staticmethod
    def _items(
        event: faust.EventT, message: routing.Routed
    ) -> Iterator[tuple[int, int, str, Any]]:
        """The messages of a routed record, each with its position, the first ``seq``
        of what processing it sends, and its key: an envelope's items in order, or the
        record itself."""
        offset = event.message.offset
        if isinstance(message, routing.Envelope):
            for index, (key, raw) in enumerate(message.items):
                yield (routing.position(offset, index), routing.item_seq(index), key,
                       routing.decoder.decode(raw))
        else:
            key = event.key.decode()
            yield routing.position(offset), routing.first_seq(key), key, message

    def _fresh_entry(
        self, states: KeyedState[Any], key: str, at: int, message: Any
    ) -> Entry[Any] | None:
        """The key's entry to process ``message`` (at position ``at``) with, or None
        when it was processed or applied before: a replay, whose messages were sent
        again at recovery, or a message its sender sent again."""
        entry = states.entry(key)
        origin = message.origin
        if entry is None:
            entry = Entry(None)
        elif entry.processed(at) or entry.applied_before(
            origin.source, origin.offset, origin.seq
        ):
            self.counters.redelivered(states.table.name)
            return None
        entry.applied[origin.source] = (origin.offset, origin.seq)
        return entry

    def _step(
        self, states: KeyedState[Any], due: DueIndex, key: str, event: faust.EventT,
        entry: Entry[Any], result: StepResult[Any], clock: Clock, at: int, first: int,
        outbox: Outbox,
    ) -> None:
        """Keep the key's new state, changed by the message at position ``at``, with
        what it sends (kept until the offset of ``event`` is committed; ``first``: the
        first seq of its origins), and hand that to ``outbox``. Sent before the state
        is written at the end of the batch, a message is sent again by a replay."""
        record = event.message
        if result.outcome == "duplicate":
            self.counters.duplicate(states.table.name)
        source = self._short_source(f"{record.topic}:{record.partition}")
        outgoing: list[Outgoing] = []
        for rep_message in result.to_reps:
            origin = routing.Origin(source, record.offset, first + len(outgoing))
            value = routing.DeltaMsg(rep_message, clock.now, clock.watermark, origin)
            outgoing.append((self._by_rep_name, rep_message.rep_id.encode(),
                             routing.encoder.encode(value)))
        for account_message in result.to_accounts:
            origin = routing.Origin(source, record.offset, first + len(outgoing))
            value = routing.AccountMsg(account_message, clock.now, clock.watermark, origin)
            outgoing.append((self._by_account_name, account_message.account_id.encode(),
                             routing.encoder.encode(value)))
        for violation in result.violations:
            outgoing.append((self._violations_name, violation.violation_id.encode(),
                             encode(violation)))
        committed = routing.position(self._committed(record.tp))
        entry.state, entry.last = result.state, at
        entry.sent = {p: sent for p, sent in entry.sent.items() if p >= committed}
        if outgoing:
            entry.sent[at] = outgoing
        states.put(key, entry, event)
        due.schedule(record.partition, key, result.state)
        outbox.add(outgoing)

    def _short_source(self, source: str) -> str:
        """``source`` without the topic prefix every worker of the app shares: origins
        are kept per source in every receiving key's state, so they are kept short."""
        short = self._short.get(source)
        if short is None:
            topic, _, partition = source.rpartition(":")
            stage = self._stage_names.get(topic, topic[self._prefix_len:])
            short = self._short[source] = f"{stage}:{partition}"
        return short

    async def _resend_up_to(
        self, states: KeyedState[Any], record: faust.types.Message, at: int, outbox: Outbox
    ) -> dict[str, list[Outgoing]]:
        """Send again what the partition's messages before position ``at`` (of
        ``record``) sent after the last commit, and return what the message at ``at``
        sent, per key: a crash may have lost those messages while the state that
        remembers sending them survived. Found on the partition's first record since
        it was assigned, each sent where the replay reaches its position
        (``Resends``); receivers drop what they had."""
        tp = record.tp
        resends = self._resends.get((tp.topic, tp.partition))
        if resends is None:
            resends = self._resends[tp.topic, tp.partition] = states.sent_since_commit(
                tp.partition, self._committed(tp), routing.first_seq)
        outbox.add(resends.before(at))
        return resends.at(at)

    def _committed(self, tp: Any) -> int:
        """The committed offset of ``tp`` (0 when none yet). Faust keeps it on its
        consumer without a public accessor."""
        committed = self.app.consumer._committed_offset.get(tp)
        return committed if committed is not None else 0

    async def rep_agent(self, stream: faust.StreamT) -> None:
        """Rep aggregates: rep-keyed events and the deltas of the other stages."""
        async def flush() -> None:
            await self.rep_outbox.flush()
            await self.reps.flush()

        await self.consume(stream, self._rep_event, flush, self.settings.aggregate_batch_seconds)

    async def _rep_event(self, event: faust.EventT) -> None:
        message = routing.decoder.decode(event.value)
        if isinstance(message, routing.TickMsg):
            await self._rep_snapshots(event, Clock(message.now, message.watermark))
            return
        turn = TimeSlice()
        for at, _, key, item in self._items(event, message):
            entry = self._fresh_entry(self.reps, key, at, item)
            if entry is not None:
                clock = Clock(item.now, item.watermark)
                if isinstance(item, routing.EventMsg):
                    result = self.rep_stage.apply(entry.state, item.event, clock,
                                                  item.qualifying)
                else:
                    result = self.rep_stage.apply(entry.state, item.message, clock, None)
                if result.outcome == "duplicate":
                    self.counters.duplicate("reps")
                entry.state, entry.last = result.state, at
                self.reps.put(key, entry, event)
                self.latency.changed(f"rep:{key}")
            await turn.check()

    async def _rep_snapshots(self, tick: faust.EventT, clock: Clock) -> None:
        partition = tick.message.partition
        if not self.rep_schedule.ready(partition):
            return  # its changed reps stay marked for the next pass
        due = self.rep_schedule.due(partition, clock.now, self.reps.take_dirty(partition),
                                    lambda: self.reps.keys_in(partition))
        turn = TimeSlice()  # a full pass reads every rep's KPIs (about 80 µs each)
        spent = 0.0  # the pass's own time, not the other agents' between its turns
        for rep_id in due:
            await turn.check()
            started = time.perf_counter()
            entry = self.reps.entry(rep_id)
            if entry is None:
                continue
            team = self.roster.team_of(rep_id)
            entry.state, snapshot, alerts, figures = self.rep_stage.snapshot(
                entry.state, rep_id, team, clock
            )
            self.rep_schedule.clearing(partition, rep_id, any(
                firing.back_since is not None for firing in entry.state.alerts.values()))
            self.reps.put(rep_id, entry, tick, maybe_unchanged=True)
            if await self._send_snapshot(f"rep:{rep_id}", snapshot):
                previous = self._rep_team.get(rep_id)
                if previous is not None and previous != team:
                    self._send_figures(previous, rep_id, None, clock)
                self._rep_team[rep_id] = team
                self._send_figures(team, rep_id, figures, clock)
            await self.send_alerts(alerts)
            spent += time.perf_counter() - started
        self.rep_schedule.spent(partition, spent)
        # What the loop stored is no change to snapshot again (no rep event ran meanwhile:
        # this agent is the only one that changes reps).
        self.reps.take_dirty(partition)

    def _send_figures(
        self, team: str, rep_id: str, figures: RepFigures | None, clock: Clock
    ) -> None:
        """Figures travel in envelopes too: a full pass sends one per rep."""
        message = routing.FiguresMsg(rep_id, figures, clock.now, clock.watermark)
        self.rep_outbox.add([(self._by_team_name, team.encode(),
                              routing.encoder.encode(message))])

    async def team_agent(self, stream: faust.StreamT) -> None:
        """Team aggregates from the summed figures of the team's reps."""
        await self.consume(stream, self._team_event, self.teams.flush,
                           self.settings.aggregate_batch_seconds)

    async def _team_event(self, event: faust.EventT) -> None:
        message = routing.decoder.decode(event.value)
        if isinstance(message, routing.TickMsg):
            clock = Clock(message.now, message.watermark)
            turn = TimeSlice()
            for team in self._teams_to_snapshot(event.message.partition, clock.now):
                await turn.check()
                entry = self.teams.entry(team)
                if entry is None:
                    continue
                entry.state, snapshot, alerts = self.team_stage.snapshot(entry.state, team, clock)
                self.teams.put(team, entry, event, maybe_unchanged=True)
                await self._send_snapshot(f"team:{team}", snapshot)
                await self.send_alerts(alerts)
            return
        for _, _, team, item in self._items(event, message):
            assert isinstance(item, routing.FiguresMsg)
            entry = self.teams.entry(team) or Entry(None)
            # Figures replace a rep's previous ones: applying them twice changes nothing.
            entry.state = self.team_stage.update(entry.state, item.rep_id, item.figures)
            self.teams.put(team, entry, event, maybe_unchanged=True)
            self.latency.changed(f"team:{team}")

    def _teams_to_snapshot(self, partition: int, now: int) -> Iterable[str]:
        """Changed teams; every team of the partition when stream time moved since the
        last snapshot (teams are few; reps: agents/snapshot_schedule.py)."""
        dirty = self.teams.take_dirty(partition)
        if self._tick_now.get(partition) != now:
            self._tick_now[partition] = now
            return sorted(self.teams.keys_in(partition))
        return sorted(dirty)

    # ------------------------------------------------------------------ outputs

    async def send_alerts(self, alerts: list[Alert]) -> None:
        """Alert transitions keyed by alert id (firing, later resolved)."""
        for alert in alerts:
            await self.alerts.send(key=alert.alert_id.encode(), value=encode(alert))

    async def _send_snapshot(self, key: str, snapshot: KpiSnapshot) -> bool:
        """Send a snapshot when it differs from the last one sent for ``key``."""
        value = encode(snapshot)
        if not self._sent.changed(key, value):
            self.latency.unchanged(key)
            return False
        await self.snapshots.send(key=key.encode(), value=value)
        self.latency.published(key)
        return True

    # ------------------------------------------------------------------ time and rebalance

    async def send_ticks(self) -> None:
        """Ask each owned stage partition to run its time-driven work at stream time;
        live and idle, stream time follows the wall clock."""
        self._refresh_inputs()
        clock = self.clock_now()
        if self.settings.live_clock:
            if clock.now != self._last_now:
                self._last_now, self._last_moved = clock.now, time.monotonic()
            elif time.monotonic() - self._last_moved > self.settings.idle_advance_seconds:
                self._wall_now = int(time.time() * 1_000_000)
                clock = self.clock_now()
        if not clock.now:
            return
        tick = routing.encoder.encode(routing.TickMsg(clock.now, clock.watermark))
        for tp in self.app.assignor.assigned_actives():
            if tp.topic in self._stage_names:
                await self._topics[tp.topic].send(value=tick, partition=tp.partition)

    def _refresh_inputs(self) -> None:
        """Learn every input partition (W waits for all of them), and which owned ones
        have nothing waiting although no record came yet (empty or consumed before a
        restart): those stop holding W once quiet."""
        counts = {name: self.app.consumer.topic_partitions(name) for name in self._inputs}
        if all(count is not None for count in counts.values()):
            self._input_partitions = {
                f"{name}:{partition}" for name, count in counts.items()
                for partition in range(count or 0)
            }
        for source, owned in list(self._partition_times.owned.items()):
            if not owned.behind:
                continue
            name, partition = source.rsplit(":", 1)
            tp = TP(name, int(partition))
            highwater = self.app.consumer.highwater(tp)
            if highwater is None:  # not fetched from yet
                continue
            # Consumed entirely, since this start (committed) or before it (the stored
            # entry's last record). Not consumer.position(): it can wait for a seek
            # queued behind it in the consumer thread and stall every fetch.
            stored = self.clock.get(source)
            last = _clock_decoder.decode(stored).offset if stored is not None else -1
            if max(self._committed(tp), last + 1) >= highwater:
                self._partition_times.own(source, msgspec.structs.replace(owned, behind=False))

    async def on_assigned(self, app: faust.App, assigned: set[Any], **_: Any) -> None:
        """Owned input partitions hold W at NEVER until their records (replayed or new)
        show where they are; a stage partition resends its uncommitted messages first.
        Cached states are read again from the tables, which hold what other workers
        wrote while they owned a partition."""
        self.rep_schedule.forget()
        for states, due in ((self.accounts, self.account_due), (self.decisions,
                            self.decision_due), (self.reps, None), (self.teams, None)):
            states.forget()
            if due is not None:
                due.forget()
        wall = time.time()
        for tp in assigned:
            if tp.topic in self._inputs:
                source = f"{tp.topic}:{tp.partition}"
                self._partition_times.own(source, PartitionTime(seen=wall))
                self._unloaded.add(source)

    async def on_revoked(self, app: faust.App, revoked: set[Any], **_: Any) -> None:
        """Drop cached state and indexes of partitions now owned elsewhere."""
        by_topic: dict[str, set[int]] = {}
        for tp in revoked:
            by_topic.setdefault(tp.topic, set()).add(tp.partition)
            source = f"{tp.topic}:{tp.partition}"
            self._partition_times.disown(source)
            self._unloaded.discard(source)
            self._resends.pop((tp.topic, tp.partition), None)
        for topic, states, due in (
            (self.by_account, self.accounts, self.account_due),
            (self.by_deal, self.decisions, self.decision_due),
            (self.by_rep, self.reps, None),
            (self.by_team, self.teams, None),
        ):
            partitions = by_topic.get(topic.get_topic_name(), set())
            states.revoke(partitions)
            if due is not None:
                due.revoke(partitions)
