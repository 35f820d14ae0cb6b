"""The stream topology's agents: ingest → keyed stages → outputs (docs/topology.md).

Every agent is thin: decode the routed record, load the key's state, call the pure
stage, store the state, send what the stage returned.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import faust
import msgspec

from agents import routing, topics
from agents.keyed_state import DueIndex, KeyedState
from agents.metrics import IngestCounters
from agents.roster import RosterView, roster_entry
from agents.settings import Settings
from agents.snapshot_latency import SnapshotLatency
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
from schemas.outputs import Alert, KpiSnapshot, Violation
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


class PartitionTime(msgspec.Struct, array_like=True):
    """An ingest partition's largest event time (µs), whether records are still waiting
    in it (its consumer behind the high watermark), and when (wall clock, s) it last
    saw a record."""

    at: int
    behind: bool
    seen: float


_clock_encoder = msgspec.msgpack.Encoder()
_clock_decoder = msgspec.msgpack.Decoder(PartitionTime)
DECISION_EVENTS = (DiscountGranted, ApprovalRequested, ApprovalDecided)


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
        self.roster = RosterView(self._table("roster", global_=True))
        self.clock = self._table("clock", global_=True)
        self._clock_seen: dict[str, PartitionTime] = {}
        self._wall_now: int | None = None
        self._last_now, self._last_moved = 0, time.monotonic()
        self._rep_team: dict[str, str] = {}
        self.account_stage = AccountStage(policy, self.roster)
        self.decision_stage = DecisionStage(policy, self.roster)
        self.rep_stage = RepStage(policy, self.roster)
        self.team_stage = TeamStage(policy)
        self.accounts = self._states("accounts", AccountState, self.by_account)
        self.decisions = self._states("decisions", DecisionState, self.by_deal)
        self.reps = self._states("reps", RepState, self.by_rep)
        self.teams = self._states("teams", TeamState, self.by_team)
        self.account_due = DueIndex(self.accounts, self.account_stage.next_due)
        self.decision_due = DueIndex(self.decisions, self.decision_stage.next_due)
        self._sent: dict[str, bytes] = {}  # last snapshot sent per key: emit on change only
        self._tick_now: dict[str, int] = {}
        app.agent(self.by_account, name="account-stage")(self.account_agent)
        app.agent(self.by_deal, name="decision-stage")(self.decision_agent)
        app.agent(self.by_rep, name="rep-stage")(self.rep_agent)
        app.agent(self.by_team, name="team-stage")(self.team_agent)
        app.timer(settings.snapshot_interval_seconds, name="ticks")(self.send_ticks)
        app.on_partitions_revoked.connect(self.on_revoked)

    # ------------------------------------------------------------------ wiring helpers

    def _internal_topic(self, stage: str) -> faust.TopicT:
        return self.app.topic(
            topics.internal_topic(self.settings, stage),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.settings.topic_partitions,
        )

    def _output_topic(self, name: str) -> faust.TopicT:
        return self.app.topic(
            self.settings.topic(name), key_serializer="raw", value_serializer="raw"
        )

    def _table(self, name: str, *, global_: bool = False) -> Any:
        factory = self.app.GlobalTable if global_ else self.app.Table
        return factory(
            name,
            key_type=bytes,  # bytes ⇒ Faust's "raw" codec: states are msgpack already
            value_type=bytes,
            partitions=self.settings.topic_partitions,
        )

    def _states(self, name: str, state_type: type, topic: faust.TopicT) -> KeyedState[Any]:
        topic_name = topic.get_topic_name()

        def partition_of(key: str) -> int:
            return int(self.app.producer.key_partition(topic_name, key.encode()).partition)

        return KeyedState(self._table(name), state_type, partition_of)

    # ------------------------------------------------------------------ stream time

    def clock_now(self) -> Clock:
        """Stream time T (largest event time of any partition, or the idle wall clock)
        and the watermark W: the slowest partition that still has records waiting holds
        it back (all caught up: T), minus the lateness bound."""
        entries = [_clock_decoder.decode(raw) for raw in self.clock.values()]
        wall_now = self._wall_now or 0
        if not entries:
            return Clock(wall_now, wall_now - self.lateness)
        now = max(max(entry.at for entry in entries), wall_now)
        # Caught up alone is not idle: a producer's next batch for this partition may
        # still be on its way. Idle = caught up and quiet for a while.
        quiet_since = time.time() - self.settings.idle_partition_seconds
        holding = [e.at for e in entries if e.behind or e.seen > quiet_since]
        slowest = min(holding) if holding else now
        return Clock(now, slowest - self.lateness)

    def admit(self, source: str, at: int, behind: bool) -> bool:
        """Judge an event of ``source`` (topic:partition) against that partition's own
        stream time: False when it is late. Records the partition's time and whether it
        is still behind (in-stream: writes the clock table when either changes)."""
        known = self._clock_seen.get(source)
        if known is None:
            stored = self.clock.get(source)
            known = _clock_decoder.decode(stored) if stored is not None else None
        seen = -1 if known is None else known.at
        late = at < seen - self.lateness
        wall = time.time()
        latest = PartitionTime(max(at, seen), behind, wall)
        # Rewrite when the time or the backlog changed, or the last write is getting old.
        if known is None or (latest.at, latest.behind) != (known.at, known.behind) or (
            wall - known.seen > self.settings.idle_partition_seconds / 4
        ):
            self._clock_seen[source] = latest
            self.clock[source] = _clock_encoder.encode(latest)
        return not late

    # ------------------------------------------------------------------ ingest routing

    async def route(self, event: Event, source: str, behind: bool) -> bool:
        """Send a validated event to the stages that own its keys (the roster also to
        its table); False when the event is late for its partition and was not routed.
        ``behind``: more records are already waiting in the event's partition."""
        at = to_micros(event.occurred_at)
        if not self.admit(source, at, behind):
            return False
        now = self.clock_now().now
        if isinstance(event, RepUpdated):
            self.roster.upsert(event.rep_id, roster_entry(event, at))
        qualifying = None
        if isinstance(event, NoteLogged):
            qualifying = is_qualifying(event.body, self.policy.notes)
            event = msgspec.structs.replace(event, body="")  # the body goes no further
        message = routing.encoder.encode(routing.EventMsg(event, now, qualifying))
        for topic, key in self._destinations(event):
            await topic.send(key=key.encode(), value=message)
        return True

    def _destinations(self, event: Event) -> list[tuple[faust.TopicT, str]]:
        """Which stages own a piece of ``event``, and under which key (docs/topology.md)."""
        if isinstance(event, DealUpdated):
            return [(self.by_deal, event.deal_id), (self.by_account, event.account_id)]
        if isinstance(event, NoteLogged):
            found = [(self.by_account, event.account_id), (self.by_rep, event.rep_id)]
            if event.deal_id is not None:
                found.append((self.by_deal, event.deal_id))
            return found
        if isinstance(event, DECISION_EVENTS):
            return [(self.by_deal, event.deal_id)]
        if isinstance(event, SurveySubmitted):
            return [(self.by_account, event.account_id), (self.by_rep, event.rep_id)]
        return [(self.by_rep, event.rep_id)]

    # ------------------------------------------------------------------ stage agents

    async def account_agent(self, stream: faust.StreamT) -> None:
        """Deals and notes, keyed by account."""
        await self._run_keyed(stream, self.accounts, self.account_stage, self.account_due)

    async def decision_agent(self, stream: faust.StreamT) -> None:
        """Discounts and approvals, keyed by deal."""
        await self._run_keyed(stream, self.decisions, self.decision_stage, self.decision_due)

    async def _run_keyed(
        self, stream: faust.StreamT, states: KeyedState[Any], stage: Any, due: DueIndex
    ) -> None:
        async for event in stream.events():
            message, partition, clock = self._receive(event)
            if isinstance(message, routing.TickMsg):
                for key in due.pop_due(partition, clock.now):
                    state = states.get(key)
                    if state is not None:
                        await self._step(states, due, key, partition, stage.tick(state, clock))
                continue
            key = event.key.decode()
            if isinstance(message, routing.AccountMsg):
                result = stage.apply(states.get(key), message.message, clock)
            else:
                assert isinstance(message, routing.EventMsg)
                result = stage.apply(states.get(key), message.event, clock, message.qualifying)
            await self._step(states, due, key, partition, result)

    async def _step(
        self, states: KeyedState[Any], due: DueIndex, key: str, partition: int,
        result: StepResult[Any],
    ) -> None:
        if result.outcome == "duplicate":
            self.counters.duplicate(states.table.name)
        states.put(key, result.state, partition)
        due.schedule(partition, key, result.state)
        now = self.clock_now().now
        for rep_message in result.to_reps:
            await self.by_rep.send(
                key=rep_message.rep_id.encode(),
                value=routing.encoder.encode(routing.DeltaMsg(rep_message, now)),
            )
        for account_message in result.to_accounts:
            await self.by_account.send(
                key=account_message.account_id.encode(),
                value=routing.encoder.encode(routing.AccountMsg(account_message, now)),
            )
        await self.send_violations(result.violations)

    async def rep_agent(self, stream: faust.StreamT) -> None:
        """Rep aggregates: rep-keyed events and the deltas of the other stages."""
        async for event in stream.events():
            message, partition, clock = self._receive(event)
            if isinstance(message, routing.TickMsg):
                await self._rep_snapshots(partition, clock)
                continue
            key = event.key.decode()
            item = message.event if isinstance(message, routing.EventMsg) else message.message
            qualifying = message.qualifying if isinstance(message, routing.EventMsg) else None
            result = self.rep_stage.apply(self.reps.get(key), item, clock, qualifying)
            if result.outcome == "duplicate":
                self.counters.duplicate("reps")
            self.reps.put(key, result.state, partition)
            self.latency.changed(f"rep:{key}")

    async def _rep_snapshots(self, partition: int, clock: Clock) -> None:
        for rep_id in self._keys_to_snapshot(self.reps, "rep", partition, clock.now):
            state = self.reps.get(rep_id)
            if state is None:
                continue
            team = self.roster.team_of(rep_id)
            state, snapshot, alerts, figures = self.rep_stage.snapshot(
                state, rep_id, team, clock
            )
            self.reps.put(rep_id, state, partition)
            if await self._send_snapshot(f"rep:{rep_id}", snapshot):
                previous = self._rep_team.get(rep_id)
                if previous is not None and previous != team:
                    await self._send_figures(previous, rep_id, None, clock.now)
                self._rep_team[rep_id] = team
                await self._send_figures(team, rep_id, figures, clock.now)
            await self.send_alerts(alerts)

    async def _send_figures(
        self, team: str, rep_id: str, figures: RepFigures | None, now: int
    ) -> None:
        await self.by_team.send(
            key=team.encode(),
            value=routing.encoder.encode(routing.FiguresMsg(rep_id, figures, now)),
        )

    async def team_agent(self, stream: faust.StreamT) -> None:
        """Team aggregates from the summed figures of the team's reps."""
        async for event in stream.events():
            message, partition, clock = self._receive(event)
            if isinstance(message, routing.TickMsg):
                for team in self._keys_to_snapshot(self.teams, "team", partition, clock.now):
                    state = self.teams.get(team)
                    if state is None:
                        continue
                    state, snapshot, alerts = self.team_stage.snapshot(state, team, clock)
                    self.teams.put(team, state, partition)
                    await self._send_snapshot(f"team:{team}", snapshot)
                    await self.send_alerts(alerts)
                continue
            assert isinstance(message, routing.FiguresMsg)
            team = event.key.decode()
            state = self.team_stage.update(self.teams.get(team), message.rep_id, message.figures)
            self.teams.put(team, state, partition)
            self.latency.changed(f"team:{team}")

    def _keys_to_snapshot(
        self, states: KeyedState[Any], scope: str, partition: int, now: int
    ) -> Iterable[str]:
        """Changed keys; every key of the partition when stream time moved since the
        last snapshot (time alone changes rolling windows and point-in-time KPIs)."""
        marker = f"{scope}:{partition}"
        dirty = states.take_dirty(partition)
        if self._tick_now.get(marker) != now:
            self._tick_now[marker] = now
            return sorted(states.keys_in(partition))
        return sorted(dirty)

    # ------------------------------------------------------------------ outputs

    async def send_violations(self, violations: list[Violation]) -> None:
        """Violations keyed by their stable id: a replay overwrites, never adds."""
        for violation in violations:
            await self.violations.send(
                key=violation.violation_id.encode(), value=encode(violation)
            )

    async def send_alerts(self, alerts: list[Alert]) -> None:
        """Alert transitions keyed by alert id (firing, later resolved)."""
        for alert in alerts:
            await self.alerts.send(key=alert.alert_id.encode(), value=encode(alert))

    async def _send_snapshot(self, key: str, snapshot: KpiSnapshot) -> bool:
        """Send a snapshot when it differs from the last one sent for ``key``."""
        value = encode(snapshot)
        if self._sent.get(key) == value:
            self.latency.unchanged(key)
            return False
        self._sent[key] = value
        await self.snapshots.send(key=key.encode(), value=value)
        self.latency.published(key)
        return True

    # ------------------------------------------------------------------ time and rebalance

    def _receive(self, event: faust.EventT) -> tuple[routing.Routed, int, Clock]:
        """Decode a routed record; its partition and the clock to process it with,
        never behind the stream time its sender knew."""
        message = routing.decoder.decode(event.value)
        clock = self.clock_now()
        if message.now > clock.now:
            clock = Clock(message.now, clock.watermark)
        return message, event.message.partition, clock

    async def send_ticks(self) -> None:
        """Ask each owned stage partition to run its time-driven work at stream time;
        live and idle, stream time follows the wall clock."""
        now = self.clock_now().now
        if self.settings.live_clock:
            if now != self._last_now:
                self._last_now, self._last_moved = now, time.monotonic()
            elif time.monotonic() - self._last_moved > self.settings.idle_advance_seconds:
                self._wall_now = int(time.time() * 1_000_000)
                now = max(now, self._wall_now)
        if not now:
            return
        tick = routing.encoder.encode(routing.TickMsg(now))
        wanted = {t.get_topic_name(): t for t in (self.by_account, self.by_deal, self.by_rep,
                                                  self.by_team)}
        for tp in self.app.assignor.assigned_actives():
            topic = wanted.get(tp.topic)
            if topic is not None:
                await topic.send(value=tick, partition=tp.partition)

    async def on_revoked(self, app: faust.App, revoked: set[Any], **_: Any) -> None:
        """Drop cached state and indexes of partitions now owned elsewhere."""
        by_topic: dict[str, set[int]] = {}
        for tp in revoked:
            by_topic.setdefault(tp.topic, set()).add(tp.partition)
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
