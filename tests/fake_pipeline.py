"""A fake of the parts of agents.pipeline.Pipeline that the /metrics collectors read
(plain dicts of real stage states), for unit tests without a broker."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams import guardrails as g
from streams import kpis as k
from streams.clock import DAY_US
from streams.policy_model import Policy, default_policy
from streams.stages import (
    Clock,
    Counted,
    Fired,
    RepFigures,
    RepStage,
    RepState,
    RosterEntry,
    TeamStage,
    TeamState,
)

NOW = 20_000 * DAY_US  # 2024-10-04, µs
CLOCK = Clock(NOW, NOW - 7 * DAY_US)
ROSTER = {
    "r-a1": RosterEntry(0, "e1", "team-a", "junior", "m-a"),
    "r-a2": RosterEntry(0, "e2", "team-a", "senior", "m-a"),
    "r-b1": RosterEntry(0, "e3", "team-b", "senior", None),
}


@dataclass
class FakePipeline:
    """The parts of agents.pipeline.Pipeline the collector reads, over plain dicts."""

    reps: dict[str, RepState]
    teams: dict[str, TeamState] = field(default_factory=dict)
    policy: Policy = field(default_factory=default_policy)
    roster: dict[str, RosterEntry] = field(default_factory=lambda: dict(ROSTER))
    rep_stage: RepStage | FullFigures = field(init=False)
    team_stage: TeamStage = field(init=False)

    def __post_init__(self) -> None:
        self.rep_stage = RepStage(self.policy, self.roster)
        self.team_stage = TeamStage(self.policy)

    def clock_now(self) -> Clock:
        return CLOCK


class FullFigures:
    """A rep stage whose every rep has data for every KPI: the most series a rep can
    have."""

    def figures(self, state: RepState, clock: Clock) -> RepFigures:
        raw = {name: (3.0, None if name in {"stalled_deals", "stalled_value",
                                             "critical_violations_7d", "violations_30d"}
                      else 10.0) for name in k.REP_KPIS}
        raw[k.CYCLE_PRIOR] = (40.0, 10.0)
        return RepFigures.of(raw, {"negotiation": 3})


def rep_with(*items: object) -> RepState:
    stage, state = RepStage(default_policy(), ROSTER), None
    for item in items:
        state = stage.apply(state, item, CLOCK).state
    assert state is not None
    return state


def decisions(rep: str, n: int, autonomous: int) -> list[Counted]:
    return [Counted(rep, f"{rep}-d{i}", NOW - DAY_US, decision=True, autonomous=i < autonomous)
            for i in range(n)]


def over_authority(rep: str) -> Fired:
    return Fired(rep, g.violation("discount_over_authority", f"{rep}-x", rep=rep,
                                  team="team-a", deal="deal-1", account=None, values={},
                                  event_id="e-x", at=NOW - DAY_US))


def full_pipeline() -> FakePipeline:
    """Three reps in two teams, each with data for every KPI and one violation."""
    pipeline = FakePipeline({rep: rep_with(*decisions(rep, 1, 1), over_authority(rep))
                             for rep in ROSTER})
    pipeline.rep_stage = FullFigures()
    pipeline.teams = {"team-a": TeamStage(pipeline.policy).update(
        None, "r-a1", FullFigures().figures(RepState(), CLOCK))}
    return pipeline
