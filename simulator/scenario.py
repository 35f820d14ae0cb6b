"""Scenario generation: teams of persona-driven reps acting on their accounts day by day.

``generate`` returns the typed input events of a whole scenario, ordered by event time,
roster first; ``stream`` (from :mod:`simulator.feed`) turns them into Kafka records at a
chosen pace. Everything random comes from ``random.Random`` seeded by the scenario seed
(one generator per rep, seeded by ``seed`` and the rep id, so adding a team does not
change the others), and nothing reads the wall clock: the same arguments give the same
events, byte for byte.

Each rep owns a book of accounts (the "clear ownership of territories and accounts" of
the seeds). Every account always has, or soon gets, one deal, which moves through the
stages at the persona's pace and closes won or lost; a later deal on a won account is an
expansion. Around the deals the rep writes notes, decides or escalates discounts,
qualifies leads, is coached, and customers answer surveys. Activity happens on weekdays,
08:00-20:00 UTC. At ``activity=1`` a rep produces about 4.6 events per calendar day
(6.5 per weekday; the default 2 teams x 4 reps x 90 days give about 3,300 events).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from schemas import events as ev
from simulator.behaviour import SOURCE, RepSim
from simulator.feed import Injected, stream  # noqa: F401  (re-exported: the scenario API)
from simulator.personas import DEFAULT_MIX, Persona, persona
from streams.policy_model import Policy, default_policy

DEFAULT_START = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
REGIONS = ("emea", "amer", "apac")


@dataclass(frozen=True, slots=True)
class RepPlan:
    """One simulated rep: who they are, their team and how they behave."""

    rep_id: str
    team: str
    persona: Persona
    manager_id: str
    region: str


def team_name(index: int) -> str:
    """``team-a``, ``team-b``, ... ``team-z``, ``team-aa``, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"team-{letters}"


def plan_roster(
    teams: int = 2, reps_per_team: int = 4, mix: Sequence[Sequence[str]] = DEFAULT_MIX
) -> list[RepPlan]:
    """The reps of a scenario: team i takes its personas from ``mix[i % len(mix)]``,
    cycling through that list for its reps."""
    reps = []
    for t in range(teams):
        team = team_name(t)
        names = mix[t % len(mix)]
        for n in range(reps_per_team):
            reps.append(RepPlan(
                rep_id=f"rep-{team[5:]}{n + 1}", team=team, persona=persona(names[n % len(names)]),
                manager_id=f"mgr-{team}", region=REGIONS[t % len(REGIONS)],
            ))
    return reps


def generate(
    seed: int,
    *,
    teams: int = 2,
    reps_per_team: int = 4,
    days: int = 90,
    start: dt.datetime = DEFAULT_START,
    mix: Sequence[Sequence[str]] = DEFAULT_MIX,
    activity: float = 1.0,
    accounts_per_rep: int = 8,
    policy: Policy | None = None,
) -> list[ev.Event]:
    """Every event of the scenario, ordered by occurred_at, roster and quotas first.

    ``mix`` lists the persona names of each team (cycled over teams and reps); the
    default makes team A unhealthy and team B healthy. ``activity`` scales how often
    reps write notes, qualify leads and renegotiate discounts.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    midnight = start.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    roster = plan_roster(teams, reps_per_team, mix)
    policy = policy or default_policy()
    setup: list[ev.Event] = []
    for plan in roster:
        setup.append(ev.RepUpdated(
            event_id=f"sim{seed}-roster-{plan.rep_id}", schema_version=1,
            occurred_at=midnight, source=SOURCE, rep_id=plan.rep_id, team=plan.team,
            region=plan.region, manager_id=plan.manager_id,
            manager_contact=f"{plan.manager_id}@example.com", tier=plan.persona.tier,
        ))
    for plan in roster:
        for period in _quarters(midnight.date(), midnight.date() + dt.timedelta(days + 90)):
            setup.append(ev.QuotaSet(
                event_id=f"sim{seed}-quota-{plan.rep_id}-{period}", schema_version=1,
                occurred_at=midnight + dt.timedelta(seconds=1), source=SOURCE,
                rep_id=plan.rep_id, period=period, amount=plan.persona.quota, currency="EUR",
            ))
    activity_events: list[ev.Event] = []
    for plan in roster:
        limit = policy.tier_limit(plan.persona.tier)
        sim = RepSim(seed, plan.rep_id, plan.manager_id, plan.persona, midnight, activity,
                     accounts_per_rep, limit)
        activity_events.extend(sim.run(days))
    activity_events.sort(key=lambda e: e.occurred_at)  # stable: causal order kept on ties
    return setup + activity_events


def _quarters(first: dt.date, last: dt.date) -> list[str]:
    periods = []
    year, quarter = first.year, (first.month - 1) // 3 + 1
    while (year, quarter) <= (last.year, (last.month - 1) // 3 + 1):
        periods.append(f"{year}-Q{quarter}")
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return periods
