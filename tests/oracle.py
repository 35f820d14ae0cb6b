"""Brute-force oracle for docs/semantics.md: the slow, obvious reading of the contract.

``compute(events, policy)`` takes the complete list of events in arrival order and

1. walks it once to decide which events are accepted (``late`` / ``duplicate`` / accepted),
   keeping only what the contract says is judged *at processing time* (the roster known
   then, hence the rep's tier limit);
2. recomputes every KPI of every rep and team at the final stream time T by filtering the
   accepted events directly (no buckets, no incremental state);
3. derives the immediate and deferred violations from the accepted events, and the
   point-in-time rules (``stale_close_date``, ``deal_stalled``) as sets at the final T,
   plus a brute-force replay of their firing history in arrival order.

It is written independently of ``streams/`` (only the policy shape is shared) and favours
clarity over speed. Readings of the contract where the text leaves room are marked
``READING:``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import string
from collections import defaultdict
from dataclasses import dataclass, field
from math import fsum

from schemas.events import (
    OPEN_STAGES,
    ApprovalDecided,
    ApprovalRequested,
    CoachingLogged,
    DealUpdated,
    Decision,
    DiscountGranted,
    Event,
    LeadQualified,
    NoteLogged,
    QuotaSet,
    RepUpdated,
    SurveyKind,
    SurveySubmitted,
)
from schemas.outputs import KpiValue, Severity, Status
from streams.policy_model import Band, Direction, Policy

UNASSIGNED = "unassigned"
CLOSED_STAGES = frozenset({"closed_won", "closed_lost"})
OPEN_ORDER = [str(s) for s in OPEN_STAGES]
DAY = dt.timedelta(days=1)

REP_KPIS = (
    "autonomy_level",
    "escalation_rate",
    "authority_utilisation",
    "critical_violations_7d",
    "violations_30d",
    "crm_hygiene",
    "pipeline_coverage",
    "revenue_attainment",
    "expansion_share",
    "qualified_leads",
    "revenue_growth",
    "sales_cycle_days",
    "sales_cycle_yoy_change",
    "win_rate",
    "close_date_pushes",
    "stalled_deals",
    "stalled_value",
    "customer_alignment",
    "coaching_adoption",
)
TEAM_ONLY_KPIS = ("stalled_high_value_clusters",)

# Rules whose final fired set is order independent (immediate + deferred).
EXACT_RULES = (
    "discount_over_authority",
    "discount_below_floor",
    "unnecessary_escalation",
    "missing_required_field",
    "stage_skipped",
    "closed_won_without_note",
)
POINT_IN_TIME_RULES = ("stale_close_date", "deal_stalled")

SEVERITY = {
    "discount_over_authority": Severity.CRITICAL,
    "discount_below_floor": Severity.CRITICAL,
    "unnecessary_escalation": Severity.INFO,
    "missing_required_field": Severity.WARNING,
    "stage_skipped": Severity.WARNING,
    "closed_won_without_note": Severity.WARNING,
    "stale_close_date": Severity.WARNING,
    "deal_stalled": Severity.WARNING,
}


# --------------------------------------------------------------------------- time helpers


def utc_date(ts: dt.datetime) -> dt.date:
    return ts.astimezone(dt.UTC).date()


def in_last_days(ts: dt.datetime, now: dt.datetime, days: int) -> bool:
    """'Rolling N d': the UTC date of ``ts`` lies in [date(now) - (N-1) d, date(now)]."""
    d, today = utc_date(ts), utc_date(now)
    return today - (days - 1) * DAY <= d <= today


def quarter_of(d: dt.date) -> tuple[int, int]:
    return d.year, (d.month - 1) // 3 + 1


def previous_quarter(year: int, q: int) -> tuple[int, int]:
    return (year - 1, 4) if q == 1 else (year, q - 1)


def period_name(year: int, q: int) -> str:
    return f"{year}-Q{q}"


def quarter_days(year: int, q: int) -> int:
    start = dt.date(year, 3 * (q - 1) + 1, 1)
    ny, nq = (year + 1, 1) if q == 4 else (year, q + 1)
    end = dt.date(ny, 3 * (nq - 1) + 1, 1)
    return (end - start).days


def business_days_between(start: dt.date, end: dt.date) -> int:
    """Mon-Fri days d with start < d <= end (READING of 'whole days between two dates')."""
    count, d = 0, start + DAY
    while d <= end:
        if d.weekday() < 5:
            count += 1
        d += DAY
    return count


# --------------------------------------------------------------------------- notes


def normal_form(text: str) -> str:
    return text.lower().strip(string.punctuation + string.whitespace)


def is_qualifying(body: str, policy: Policy) -> bool:
    """Non-empty and at least ``min_chars`` code points once whitespace is stripped, and
    its normal form is not the normal form of a placeholder (so "-" and "." make every
    punctuation-only body a placeholder, and " N/A. " is "n/a")."""
    stripped = body.strip()
    if not stripped or len(stripped) < policy.notes.min_chars:
        return False
    return normal_form(stripped) not in {normal_form(p) for p in policy.notes.placeholders}


# --------------------------------------------------------------------------- judging


def band_status(value: float, band: Band) -> Status:
    if band.target is None:
        return Status.OK
    if band.direction == Direction.HIGHER_IS_BETTER:
        if value >= band.target:
            return Status.OK
        if band.breach is None or value >= band.breach:
            return Status.WARNING
        return Status.BREACH
    if value <= band.target:
        return Status.OK
    if band.breach is None or value <= band.breach:
        return Status.WARNING
    return Status.BREACH


def judge(
    numerator: float,
    denominator: float | None,
    band: Band,
    *,
    value: float | None = None,
    sample: float | None = None,
) -> KpiValue:
    """A KpiValue per the contract: den 0 or below min sample -> insufficient_data.

    ``value`` defaults to num/den (or num when there is no denominator); ``sample`` to
    the denominator (no sample check when there is no denominator).
    """
    numerator = float(numerator)
    denominator = None if denominator is None else float(denominator)
    if sample is None:
        sample = denominator
    insufficient = (denominator is not None and denominator == 0) or (
        sample is not None and sample < band.min_sample
    )
    if insufficient:
        return KpiValue(
            value=None,
            numerator=numerator,
            denominator=denominator,
            target=band.target,
            status=Status.INSUFFICIENT_DATA,
        )
    if value is None:
        value = numerator if denominator is None else numerator / denominator
    value = float(value)
    return KpiValue(
        value=value,
        numerator=numerator,
        denominator=denominator,
        target=band.target,
        status=band_status(value, band),
    )


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class OracleViolation:
    violation_id: str
    rule: str
    severity: Severity
    rep_id: str | None
    deal_id: str | None
    event_id: str | None
    occurred_at: dt.datetime


@dataclass
class OracleResult:
    stream_time: dt.datetime | None
    watermark: dt.datetime | None
    outcomes: list[str]  # per input position: accepted / duplicate / late
    accepted: list[Event]
    reps: set[str]
    team_members: dict[str, set[str]]
    rep_kpis: dict[str, dict[str, KpiValue]]
    team_kpis: dict[str, dict[str, KpiValue]]
    violations: dict[str, OracleViolation]  # fired immediate + deferred rules
    violation_ids: set[str]
    pending_ids: set[str]
    stale_deals: set[str]
    stalled_deals: set[str]
    # Replay of stale_close_date / deal_stalled firings in arrival order (meaningful for
    # time-ordered input; the doc makes the history order dependent otherwise).
    point_in_time_fired: set[str]
    point_in_time_violations: dict[str, OracleViolation]
    late_event_ids: set[str]
    duplicate_event_ids: set[str]
    # Tier limit of the event's rep when the event was processed (discounts, requests).
    limit_at: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- deals


def history_key(u: DealUpdated) -> tuple[dt.datetime, str]:
    return (u.occurred_at, u.event_id)


def closes_of(history: list[DealUpdated]) -> list[DealUpdated]:
    """Updates that close the deal: closed after a non-closed state, or first seen closed."""
    out = []
    prev = None
    for u in history:
        if u.stage in CLOSED_STAGES and (prev is None or prev.stage not in CLOSED_STAGES):
            out.append(u)
        prev = u
    return out


def stage_began(history: list[DealUpdated]) -> dt.datetime:
    """occurred_at of the first update of the trailing run of the current stage."""
    current = history[-1].stage
    began = history[-1].occurred_at
    for u in reversed(history):
        if u.stage != current:
            break
        began = u.occurred_at
    return began


def stall_clock_start(
    history: list[DealUpdated], notes: list[NoteLogged], now: dt.datetime, policy: Policy
) -> dt.datetime:
    start = stage_began(history)
    deal_id = history[-1].deal_id
    for n in notes:
        if n.deal_id == deal_id and n.occurred_at <= now and is_qualifying(n.body, policy):
            start = max(start, n.occurred_at)
    return start


def is_stalled(
    history: list[DealUpdated], notes: list[NoteLogged], now: dt.datetime, policy: Policy
) -> tuple[bool, dt.datetime | None]:
    current = history[-1]
    if current.stage in CLOSED_STAGES:
        return False, None
    if current.snoozed_until is not None and current.snoozed_until >= utc_date(now):
        return False, None
    limit = policy.stages.stall_days.get(str(current.stage))
    if limit is None:
        return False, None
    start = stall_clock_start(history, notes, now, policy)
    if policy.stages.business_days:
        stalled = business_days_between(utc_date(start), utc_date(now)) > limit
    else:
        stalled = (now - start) > dt.timedelta(days=limit)
    return stalled, start


def is_stale(current: DealUpdated, now: dt.datetime) -> bool:
    return (
        current.stage not in CLOSED_STAGES
        and current.expected_close_date is not None
        and current.expected_close_date < utc_date(now)
    )


def field_missing(u: DealUpdated, name: str) -> bool:
    value = getattr(u, name)
    if value is None:
        return True
    if name == "amount":
        return value == 0
    return isinstance(value, str) and value == ""


# --------------------------------------------------------------------------- the oracle


def compute(events: list[Event], policy: Policy) -> OracleResult:
    lateness = dt.timedelta(days=policy.lateness_days)

    # ---- 1. acceptance, in arrival order --------------------------------------------
    outcomes: list[str] = []
    accepted: list[Event] = []
    accepted_ids: set[str] = set()
    late_ids: set[str] = set()
    dup_ids: set[str] = set()
    now: dt.datetime | None = None
    roster_so_far: dict[str, RepUpdated] = {}
    limit_at: dict[str, float] = {}
    for ev in events:
        # READING: lateness is checked before de-duplication (de-dup memory only needs
        # ids with occurred_at >= W, so an old repeat is reported late).
        if now is not None and ev.occurred_at < now - lateness:
            outcomes.append("late")
            late_ids.add(ev.event_id)
            continue
        if ev.event_id in accepted_ids:
            outcomes.append("duplicate")
            dup_ids.add(ev.event_id)
            continue
        outcomes.append("accepted")
        accepted.append(ev)
        accepted_ids.add(ev.event_id)
        now = ev.occurred_at if now is None else max(now, ev.occurred_at)
        if isinstance(ev, RepUpdated):
            known = roster_so_far.get(ev.rep_id)
            if known is None or (ev.occurred_at, ev.event_id) > (known.occurred_at, known.event_id):
                roster_so_far[ev.rep_id] = ev
        if isinstance(ev, DiscountGranted | ApprovalRequested):
            entry = roster_so_far.get(ev.rep_id)
            limit_at[ev.event_id] = policy.tier_limit(entry.tier if entry else None)

    if now is None:
        return OracleResult(
            stream_time=None,
            watermark=None,
            outcomes=outcomes,
            accepted=[],
            reps=set(),
            team_members={},
            rep_kpis={},
            team_kpis={},
            violations={},
            violation_ids=set(),
            pending_ids=set(),
            stale_deals=set(),
            stalled_deals=set(),
            point_in_time_fired=set(),
            point_in_time_violations={},
            late_event_ids=late_ids,
            duplicate_event_ids=dup_ids,
            limit_at=limit_at,
        )
    T = now
    W = T - lateness
    today = utc_date(T)

    def of(kind):
        return [e for e in accepted if isinstance(e, kind)]

    deals_upd: list[DealUpdated] = of(DealUpdated)
    discounts: list[DiscountGranted] = of(DiscountGranted)
    notes: list[NoteLogged] = of(NoteLogged)
    leads: list[LeadQualified] = of(LeadQualified)
    requests: list[ApprovalRequested] = of(ApprovalRequested)
    quotas: list[QuotaSet] = of(QuotaSet)
    roster_events: list[RepUpdated] = of(RepUpdated)
    coachings: list[CoachingLogged] = of(CoachingLogged)
    surveys: list[SurveySubmitted] = of(SurveySubmitted)

    # ---- final roster -----------------------------------------------------------------
    roster: dict[str, RepUpdated] = {}
    for r in sorted(roster_events, key=lambda r: (r.occurred_at, r.event_id)):
        roster[r.rep_id] = r
    reps = {e.rep_id for e in accepted}

    def team_of(rep: str) -> str:
        entry = roster.get(rep)
        return entry.team if entry else UNASSIGNED

    team_members: dict[str, set[str]] = defaultdict(set)
    for rep in reps:
        team_members[team_of(rep)].add(rep)

    # ---- deals ------------------------------------------------------------------------
    histories: dict[str, list[DealUpdated]] = defaultdict(list)
    for u in deals_upd:
        histories[u.deal_id].append(u)
    for h in histories.values():
        h.sort(key=history_key)
    current = {d: h[-1] for d, h in histories.items()}
    closes = {d: closes_of(h) for d, h in histories.items()}

    # ---- violations: immediate and deferred ------------------------------------------
    fired: dict[str, OracleViolation] = {}
    pending: set[str] = set()

    def fire(rule, identity, rep, deal, event_id, at):
        vid = f"{rule}:{identity}"
        if vid not in fired:
            fired[vid] = OracleViolation(vid, rule, SEVERITY[rule], rep, deal, event_id, at)

    def defer(rule, identity, rep, deal, event_id, at):
        # Evidence about instant t is final only once W > t (an event at exactly W is
        # still accepted).
        if at < W:
            fire(rule, identity, rep, deal, event_id, at)
        else:
            pending.add(f"{rule}:{identity}")

    def approval_state(g: DiscountGranted, known: list[Event]) -> str:
        """'valid', 'invalid' (known) or 'unknown' for a grant carrying an approval_id,
        given the events ``known`` so far.

        READING: a known decision that cannot validate (rejected, decided after the
        grant, not covering, decider not allowed) makes the approval known-invalid; a
        decision whose covered pct cannot be known yet (no pct on it, request unknown)
        is unknown. A valid decision wins over invalid ones.
        """
        reqs = sorted(
            (r for r in known
             if isinstance(r, ApprovalRequested) and r.approval_id == g.approval_id
             and r.occurred_at <= g.occurred_at),  # a request after the grant covers nothing
            key=lambda r: (r.occurred_at, r.event_id),
        )
        states = []
        for d in known:
            if not isinstance(d, ApprovalDecided) or d.approval_id != g.approval_id:
                continue
            if (
                d.decision != Decision.APPROVED
                or d.occurred_at > g.occurred_at
                or not (
                    g.discount_pct <= policy.approvals.manager_max_discount_pct
                    or d.decided_by in policy.approvals.executive_approvers
                )
            ):
                states.append("invalid")
                continue
            covered = d.requested_discount_pct
            if covered is None and reqs:
                covered = reqs[-1].requested_discount_pct
            if covered is None:
                states.append("unknown")
            elif covered >= g.discount_pct:
                states.append("valid")
            else:
                states.append("invalid")
        for s in ("valid", "unknown", "invalid"):
            if s in states:
                return s
        return "unknown"

    # discount_over_authority is judged as events arrive: "known invalid -> at once" means
    # a grant judged invalid with the decisions known then fires, even if a valid decision
    # arrives afterwards (one identity is never retracted). So replay the arrival order.
    known: list[Event] = []
    unresolved: dict[str, DiscountGranted] = {}
    replay_now: dt.datetime | None = None
    for ev in accepted:
        replay_now = ev.occurred_at if replay_now is None else max(replay_now, ev.occurred_at)
        if isinstance(ev, ApprovalRequested | ApprovalDecided):
            known.append(ev)
        if isinstance(ev, DiscountGranted) and ev.discount_pct > limit_at[ev.event_id]:
            if ev.approval_id is None:
                fire("discount_over_authority", ev.event_id, ev.rep_id, ev.deal_id,
                     ev.event_id, ev.occurred_at)
            else:
                unresolved[ev.event_id] = ev
        for gid, g in list(unresolved.items()):
            state = approval_state(g, known)
            if state == "unknown" and g.occurred_at < replay_now - lateness:
                state = "invalid"  # the watermark passed the grant: fires
            if state != "unknown":
                del unresolved[gid]
            if state == "invalid":
                fire("discount_over_authority", g.event_id, g.rep_id, g.deal_id, g.event_id,
                     g.occurred_at)
    for g in unresolved.values():
        pending.add(f"discount_over_authority:{g.event_id}")

    for g in discounts:
        if (1 - g.discount_pct / 100) < policy.floor_ratio:
            fire("discount_below_floor", g.event_id, g.rep_id, g.deal_id, g.event_id,
                 g.occurred_at)

    for r in requests:
        if r.requested_discount_pct <= limit_at[r.event_id]:
            fire("unnecessary_escalation", r.event_id, r.rep_id, r.deal_id, r.event_id,
                 r.occurred_at)

    # missing_required_field: one identity for many updates; the first update *in arrival
    # order* emits it (its rep and time are the violation's).
    for u in deals_upd:
        for name in policy.stages.required_fields.get(str(u.stage), ()):
            if field_missing(u, name):
                fire("missing_required_field", f"{u.deal_id}:{u.stage}:{name}", u.rep_id,
                     u.deal_id, u.event_id, u.occurred_at)

    if policy.stages.forbid_skipping:
        for deal_id, h in histories.items():
            for prev, nxt in itertools.pairwise(h):
                if prev.stage in OPEN_ORDER and nxt.stage in OPEN_ORDER:
                    step = OPEN_ORDER.index(nxt.stage) - OPEN_ORDER.index(prev.stage)
                    if step > 1:
                        defer("stage_skipped",
                              f"{deal_id}:{prev.stage}:{nxt.stage}:{nxt.event_id}",
                              nxt.rep_id, deal_id, nxt.event_id, nxt.occurred_at)

    note_window = dt.timedelta(days=policy.stages.closed_won_note_days)
    for deal_id, cs in closes.items():
        for c in cs:
            if c.stage != "closed_won":
                continue
            has_note = any(
                n.account_id == c.account_id
                and c.occurred_at - note_window <= n.occurred_at <= c.occurred_at
                and is_qualifying(n.body, policy)
                for n in notes
            )
            if not has_note:
                defer("closed_won_without_note", f"{deal_id}:{c.event_id}", c.rep_id,
                      deal_id, c.event_id, c.occurred_at)

    # ---- point-in-time rules at the final T -------------------------------------------
    stale_deals = {d for d, cur in current.items() if is_stale(cur, T)}
    stalled_deals = set()
    for d, h in histories.items():
        stalled, _ = is_stalled(h, notes, T, policy)
        if stalled:
            stalled_deals.add(d)
    point_fired = replay_point_in_time(accepted, policy)

    # ---- KPIs per rep (raw numerators and denominators) ---------------------------------
    this_q = quarter_of(today)
    last_q = previous_quarter(*this_q)

    def quota(rep: str, year: int, q: int) -> float:
        found = [x for x in quotas if x.rep_id == rep and x.period == period_name(year, q)]
        if not found:
            return 0.0
        return max(found, key=lambda x: (x.occurred_at, x.event_id)).amount

    all_closes = [c for cs in closes.values() for c in cs]

    def wins(rep, pred):
        return [c for c in all_closes if c.rep_id == rep and c.stage == "closed_won"
                and pred(utc_date(c.occurred_at))]

    def cycle_days(c: DealUpdated) -> float:
        return (c.occurred_at - c.created_at).total_seconds() / 86400

    def in_quarter(year_q):
        return lambda d: quarter_of(d) == year_q

    def in_window(start: dt.date, end: dt.date):
        return lambda d: start <= d <= end

    raw: dict[str, dict[str, tuple]] = {}
    for rep in reps:
        k: dict[str, tuple] = {}
        # autonomy, escalation, utilisation
        dec_discounts = [g for g in discounts if g.rep_id == rep and g.approval_id is None
                         and in_last_days(g.occurred_at, T, 30)]
        dec_requests = [r for r in requests if r.rep_id == rep
                        and in_last_days(r.occurred_at, T, 30)]
        n_decisions = len(dec_discounts) + len(dec_requests)
        autonomous = [g for g in dec_discounts if g.discount_pct <= limit_at[g.event_id]]
        k["autonomy_level"] = (len(autonomous), n_decisions)
        k["escalation_rate"] = (len(dec_requests), n_decisions)
        grants = [g for g in discounts if g.rep_id == rep and in_last_days(g.occurred_at, T, 30)]
        k["authority_utilisation"] = (
            fsum(g.discount_pct / limit_at[g.event_id] for g in grants), len(grants))
        # violations (immediate + deferred only; see module doc)
        mine = [v for v in fired.values() if v.rep_id == rep]
        k["critical_violations_7d"] = (
            sum(1 for v in mine if v.severity == Severity.CRITICAL
                and in_last_days(v.occurred_at, T, 7)), None)
        k["violations_30d"] = (sum(1 for v in mine if in_last_days(v.occurred_at, T, 30)), None)
        # hygiene
        active = {cur.account_id for cur in current.values()
                  if cur.rep_id == rep and cur.stage not in CLOSED_STAGES}
        for e in (*notes, *surveys, *deals_upd):
            if e.rep_id == rep and in_last_days(e.occurred_at, T, 90):
                active.add(e.account_id)
        noted = {a for a in active if any(
            n.account_id == a and in_last_days(n.occurred_at, T, 7)
            and is_qualifying(n.body, policy) for n in notes)}
        k["crm_hygiene"] = (len(noted), len(active))
        # coverage
        horizon = today + 89 * DAY
        pipeline = fsum(cur.amount for cur in current.values()
                       if cur.rep_id == rep and cur.stage not in CLOSED_STAGES
                       and cur.expected_close_date is not None
                       and today <= cur.expected_close_date <= horizon)
        per_day = []
        d = today
        while d <= horizon:
            per_day.append(quota(rep, *quarter_of(d)) / quarter_days(*quarter_of(d)))
            d += DAY
        span_quota = fsum(per_day)
        k["pipeline_coverage"] = (pipeline, span_quota)
        # revenue
        won_q = wins(rep, in_quarter(this_q))
        won_last_q = wins(rep, in_quarter(last_q))
        won_sum = fsum(c.amount for c in won_q)
        k["revenue_attainment"] = (won_sum, quota(rep, *this_q))
        k["expansion_share"] = (fsum(c.amount for c in won_q if c.kind == "expansion"), won_sum)
        k["revenue_growth"] = (won_sum, fsum(c.amount for c in won_last_q))
        k["qualified_leads"] = (
            sum(1 for x in leads if x.rep_id == rep and x.icp_fit
                and in_last_days(x.occurred_at, T, 30)), 1)
        # cycle
        w90 = wins(rep, in_window(today - 89 * DAY, today))
        year_ago = today - 365 * DAY
        w90_prev = wins(rep, in_window(year_ago - 89 * DAY, year_ago))
        k["sales_cycle_days"] = (fsum(cycle_days(c) for c in w90), len(w90))
        k["_cycle_prev"] = (fsum(cycle_days(c) for c in w90_prev), len(w90_prev))
        lost90 = [c for c in all_closes if c.rep_id == rep and c.stage == "closed_lost"
                  and today - 89 * DAY <= utc_date(c.occurred_at) <= today]
        k["win_rate"] = (len(w90), len(w90) + len(lost90))
        # slippage
        pushes = []
        for deal_id, h in histories.items():
            for prev, nxt in itertools.pairwise(h):
                if (prev.expected_close_date is not None and nxt.expected_close_date is not None
                        and nxt.expected_close_date > prev.expected_close_date
                        and nxt.rep_id == rep and in_last_days(nxt.occurred_at, T, 30)):
                    pushes.append(deal_id)
        k["close_date_pushes"] = (len(pushes), len(set(pushes)))
        # stalled
        my_stalled = [current[d] for d in stalled_deals if current[d].rep_id == rep]
        k["stalled_deals"] = (len(my_stalled), None)
        k["stalled_value"] = (fsum(c.amount for c in my_stalled), None)
        # feedback
        align = [s for s in surveys if s.rep_id == rep and s.kind == SurveyKind.CUSTOMER_ALIGNMENT
                 and quarter_of(utc_date(s.occurred_at)) == this_q]
        k["customer_alignment"] = (fsum(s.score / 100 for s in align), len(align))
        coached = [c for c in coachings if c.rep_id == rep and in_last_days(c.occurred_at, T, 30)]
        k["coaching_adoption"] = (1 if any(c.applied for c in coached) else 0,
                                  1 if coached else 0)
        raw[rep] = k

    def kpis_from(k: dict[str, tuple], team: str | None, *, n_reps: int) -> dict[str, KpiValue]:
        out = {}
        for name in REP_KPIS:
            band = policy.band(name, team)
            if name == "sales_cycle_yoy_change":
                s_now, n_now = k["sales_cycle_days"]
                s_prev, n_prev = k["_cycle_prev"]
                mean_now = s_now / n_now if n_now else 0.0
                mean_prev = s_prev / n_prev if n_prev else 0.0
                kv = judge(mean_now, mean_prev, band, sample=min(n_now, n_prev),
                           value=(mean_now / mean_prev - 1) if mean_prev else None)
            elif name == "revenue_growth":
                num, den = k[name]
                kv = judge(num, den, band, value=(num / den - 1) if den else None)
            elif name == "qualified_leads":
                kv = judge(k[name][0], n_reps, band)
            else:
                num, den = k[name]
                kv = judge(num, den, band)
            out[name] = kv
        return out

    rep_kpis = {rep: kpis_from(raw[rep], team_of(rep), n_reps=1) for rep in reps}

    team_kpis: dict[str, dict[str, KpiValue]] = {}
    for team, members in team_members.items():
        summed: dict[str, tuple] = {}
        for name in (*REP_KPIS, "_cycle_prev"):
            if name == "sales_cycle_yoy_change":
                continue
            parts = [raw[r][name] for r in members]
            num = fsum(p[0] for p in parts)
            den = None if parts[0][1] is None else fsum(p[1] for p in parts)
            summed[name] = (num, den)
        kv = kpis_from(summed, team, n_reps=len(members))
        hv_by_stage: dict[str, int] = defaultdict(int)
        for d in stalled_deals:
            cur = current[d]
            if cur.rep_id in members and cur.amount >= policy.high_value_amount:
                hv_by_stage[str(cur.stage)] += 1
        clusters = sum(1 for n in hv_by_stage.values() if n >= policy.high_value_cluster)
        kv["stalled_high_value_clusters"] = judge(
            clusters, None, policy.band("stalled_high_value_clusters", team))
        team_kpis[team] = kv

    return OracleResult(
        stream_time=T,
        watermark=W,
        outcomes=outcomes,
        accepted=accepted,
        reps=reps,
        team_members=dict(team_members),
        rep_kpis=rep_kpis,
        team_kpis=team_kpis,
        violations=fired,
        violation_ids=set(fired),
        pending_ids=pending,
        stale_deals=stale_deals,
        stalled_deals=stalled_deals,
        point_in_time_fired=set(point_fired),
        point_in_time_violations=point_fired,
        late_event_ids=late_ids,
        duplicate_event_ids=dup_ids,
        limit_at=limit_at,
    )


def midnight(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def stall_crossed_at(
    current: DealUpdated, start: dt.datetime, policy: Policy
) -> dt.datetime:
    """When a stalled deal crossed its threshold: max(start + stall days, or midnight of
    the first stalled business day; midnight ending snoozed_until; the current state)."""
    limit = policy.stages.stall_days[str(current.stage)]
    if policy.stages.business_days:
        d = utc_date(start)
        while business_days_between(utc_date(start), d) <= limit:
            d += DAY
        crossed = midnight(d)
    else:
        crossed = start + dt.timedelta(days=limit)
    moments = [crossed, current.occurred_at]
    if current.snoozed_until is not None:
        moments.append(midnight(current.snoozed_until + DAY))
    return max(moments)


def replay_point_in_time(accepted: list[Event], policy: Policy) -> dict[str, OracleViolation]:
    """Fire stale_close_date / deal_stalled by re-checking every deal after every event.

    ``accepted`` is in arrival order. After each event, with T the largest occurred_at so
    far, each deal whose current state is stale fires ``stale_close_date:deal:date`` and
    each stalled deal fires ``deal_stalled:deal:stage:clock_start`` (clock start in UTC
    isoformat), credited to the current owner, at the moment the threshold was crossed.
    Every identity fires once.
    """
    fired: dict[str, OracleViolation] = {}
    histories: dict[str, list[DealUpdated]] = defaultdict(list)
    notes: dict[str, list[NoteLogged]] = defaultdict(list)
    now: dt.datetime | None = None
    for ev in accepted:
        now = ev.occurred_at if now is None else max(now, ev.occurred_at)
        if isinstance(ev, DealUpdated):
            histories[ev.deal_id].append(ev)
            histories[ev.deal_id].sort(key=history_key)
        elif isinstance(ev, NoteLogged) and ev.deal_id is not None:
            notes[ev.deal_id].append(ev)
        for deal_id, h in histories.items():
            cur = h[-1]
            if is_stale(cur, now):
                vid = f"stale_close_date:{deal_id}:{cur.expected_close_date.isoformat()}"
                if vid not in fired:
                    at = max(midnight(cur.expected_close_date + DAY), cur.occurred_at)
                    fired[vid] = OracleViolation(vid, "stale_close_date", Severity.WARNING,
                                                 cur.rep_id, deal_id, None, at)
            stalled, start = is_stalled(h, notes.get(deal_id, []), now, policy)
            if stalled:
                vid = f"deal_stalled:{deal_id}:{cur.stage}:{start.astimezone(dt.UTC).isoformat()}"
                if vid not in fired:
                    fired[vid] = OracleViolation(vid, "deal_stalled", Severity.WARNING,
                                                 cur.rep_id, deal_id, None,
                                                 stall_crossed_at(cur, start, policy))
    return fired
