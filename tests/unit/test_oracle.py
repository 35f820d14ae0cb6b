"""Worked examples of docs/semantics.md, checked against the brute-force oracle.

They document the contract at its edges (thresholds hit exactly and missed by a hair,
windows, watermark boundaries) and make sure the oracle, which the property tests trust,
is itself right. Unless stated, the final stream time T is ``f.t(0)`` = 2026-03-10 12:00
UTC (a Tuesday in 2026-Q1) and the lateness bound is 7 days, so W = ``f.t(-7)``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace

import pytest

from schemas.events import DealKind, Decision, QuotaSet, Stage, SurveyKind
from schemas.outputs import Status
from streams.policy_model import NoteQuality, default_policy
from tests.oracle import business_days_between, compute, is_qualifying
from tests.strategies import EventFactory, policy_with_executive

P = default_policy()
D = dt.timedelta(days=1)


def anchor(f: EventFactory, rep: str = "zz"):
    """An event at f.t(0) by an uninvolved rep: pins T to f.t(0)."""
    return f.lead(f.t(0), rep, icp_fit=False)


def run(events, policy=P):
    """The oracle on ``events`` arriving in time order (a stable sort: ties keep order)."""
    return compute(sorted(events, key=lambda e: e.occurred_at), policy)


def kpi(events, rep, name, policy=P):
    return run(events, policy).rep_kpis[rep][name]


def assert_kpi(kv, value, status, numerator=None, denominator=None):
    assert kv.status == Status(status), kv
    if value is None:
        assert kv.value is None, kv
    else:
        assert kv.value is not None and math.isclose(kv.value, value, rel_tol=1e-12), kv
    if numerator is not None:
        assert math.isclose(kv.numerator, numerator, rel_tol=1e-12), kv
    if denominator is not None:
        assert kv.denominator is not None
        assert math.isclose(kv.denominator, denominator, rel_tol=1e-12), kv


# --------------------------------------------------------------------------- notes, time


def test_qualifying_note_length_and_placeholders():
    assert not is_qualifying("x" * 19, P)
    assert is_qualifying("y" * 20, P)
    assert not is_qualifying("   " + "z" * 19 + "   ", P)  # length after stripping
    short = replace(P, notes=NoteQuality(min_chars=1))
    assert not is_qualifying("n/a", short)
    assert not is_qualifying(" N/A. ", short)  # lower-cased, punctuation stripped
    assert not is_qualifying("call", short)
    assert not is_qualifying("", short)
    assert is_qualifying("call back", short)
    # "-" and "." normalise to "": every punctuation-only body is a placeholder.
    assert not is_qualifying("--", short)
    assert not is_qualifying(" ?! ", short)
    assert not is_qualifying("(call)", short)
    no_punct = replace(P, notes=NoteQuality(min_chars=1, placeholders=frozenset({"n/a"})))
    assert is_qualifying("--", no_punct)


def test_business_days_count_whole_weekdays_after_the_start_date():
    fri, mon = dt.date(2026, 3, 6), dt.date(2026, 3, 9)
    assert business_days_between(fri, mon) == 1
    assert business_days_between(mon, mon) == 0
    assert business_days_between(mon, mon + 7 * D) == 5


# --------------------------------------------------------------------------- acceptance


def test_watermark_boundary_duplicates_and_late():
    f = EventFactory()
    a = f.lead(f.t(0), "r1", event_id="a")
    at_w = f.lead(f.t(-7), "r1", event_id="at-w")  # occurred_at == W: accepted
    before_w = f.lead(f.t(-7, micro=-1), "r1", event_id="before-w")  # < W: late
    repeat = f.lead(f.t(0), "r1", icp_fit=False, event_id="a")  # same id: duplicate
    old = f.lead(f.t(-8), "r1", event_id="old")
    r = compute([old, a, at_w, before_w, repeat, old], P)
    # The second "old" is older than W: reported late, not duplicate (lateness first).
    assert r.outcomes == ["accepted", "accepted", "accepted", "late", "duplicate", "late"]
    assert r.late_event_ids == {"before-w", "old"}
    assert r.duplicate_event_ids == {"a"}
    assert r.stream_time == f.t(0)
    # The late and duplicate events changed nothing: old, a and at-w qualify (the repeat
    # of "a" with icp_fit=False is ignored).
    assert r.rep_kpis["r1"]["qualified_leads"].numerator == 3


def test_late_deal_update_changes_nothing():
    f = EventFactory()
    cur = f.deal(f.t(-1), "d1", stage=Stage.PROPOSAL, amount=5000.0, ecd=f.t(10).date())
    late = f.deal(f.t(-9), "d1", stage=Stage.CLOSED_WON, amount=9.0, ecd=f.t(10).date())
    r = compute([anchor(f), cur, late], P)
    assert r.outcomes[-1] == "late"
    assert r.rep_kpis["r1"]["pipeline_coverage"].numerator == 5000.0
    assert r.rep_kpis["r1"]["revenue_attainment"].numerator == 0.0


# --------------------------------------------------------------------------- autonomy


@pytest.mark.parametrize(
    ("autonomous", "value", "status"),
    [(499, 0.499, "breach"), (500, 0.5, "warning"), (799, 0.799, "warning"),
     (800, 0.8, "ok")],
)
def test_autonomy_thresholds(autonomous, value, status):
    """49.9 % breach, 50 % moderate (warning), 79.9 % warning, 80 % high (ok)."""
    f = EventFactory()
    events = [f.rep(f.t(-40), "r1", tier="senior")]  # limit 20 %
    for i in range(1000):
        at = f.t(-1, seconds=i)
        if i < autonomous:
            events.append(f.discount(at, "r1", 5.0))
        else:
            events.append(f.request(at, "r1", 25.0, approval_id=f"ap{i}"))
    events.append(anchor(f))
    kv = kpi(events, "r1", "autonomy_level")
    assert_kpi(kv, value, status, autonomous, 1000)
    esc = kpi(events, "r1", "escalation_rate")
    assert_kpi(esc, (1000 - autonomous) / 1000, "ok", 1000 - autonomous, 1000)


def test_autonomy_window_min_sample_and_what_counts():
    f = EventFactory()
    events = [f.rep(f.t(-60), "r1", tier="senior")]
    # Four decisions inside the window (day -29 is the window's first day) ...
    events += [f.discount(f.t(-29), "r1", 20.0) for _ in range(3)]
    events += [f.discount(f.t(-29), "r1", 20.01)]  # over the limit: a decision, not autonomous
    # ... one outside, and a grant under an approval (not a decision).
    events += [f.discount(f.t(-30), "r1", 5.0)]
    events += [f.discount(f.t(-2), "r1", 5.0, approval_id="ap9")]
    events.append(anchor(f))
    assert_kpi(kpi(events, "r1", "autonomy_level"), None, "insufficient_data", 3, 4)
    events.append(f.request(f.t(-1), "r1", 30.0, approval_id="ap10"))
    assert_kpi(kpi(events, "r1", "autonomy_level"), 0.6, "warning", 3, 5)
    # utilisation: every grant in the window, approved or not: (3*20 + 20.01 + 5) / 20 / 5
    util = kpi(events, "r1", "authority_utilisation")
    assert_kpi(util, (60 + 20.01 + 5) / 20 / 5, "ok", (60 + 20.01 + 5) / 20, 5)


def test_tier_is_judged_with_the_roster_known_at_processing_time():
    f = EventFactory()
    events = [
        f.rep(f.t(-12), "r1", tier="senior"),
        *[f.discount(f.t(-10, seconds=i), "r1", 15.0) for i in range(5)],  # senior: ok
        f.rep(f.t(-5), "r1", tier="junior"),
        f.discount(f.t(-1), "r1", 15.0, event_id="after"),  # junior: over authority
        anchor(f),
    ]
    r = run(events, P)
    assert_kpi(r.rep_kpis["r1"]["autonomy_level"], 5 / 6, "ok", 5, 6)
    assert r.violation_ids == {"discount_over_authority:after"}
    # Arriving before the roster entry (within the bound), the same grant is judged with
    # the default tier.
    r2 = compute([events[1], events[0], *events[2:]], P)
    assert r2.outcomes == ["accepted"] * len(events)
    assert f"discount_over_authority:{events[1].event_id}" in r2.violation_ids


# --------------------------------------------------------------------------- hygiene


@pytest.mark.parametrize(
    ("qualifying", "value", "status"),
    [(949, 0.949, "warning"), (950, 0.95, "ok"), (899, 0.899, "breach"), (900, 0.9, "warning")],
)
def test_hygiene_thresholds(qualifying, value, status):
    """94.9 % warning, 95 % ok; below 90 % breach."""
    f = EventFactory()
    events = [
        f.note(f.t(0, seconds=-i), "r1", "Qualified next steps with the buyer." if i < qualifying
               else "n/a", account=f"acc{i}")
        for i in range(1000)
    ]
    assert_kpi(kpi(events, "r1", "crm_hygiene"), value, status, qualifying, 1000)


def test_hygiene_active_accounts_and_note_window():
    f = EventFactory()
    good = "Customer confirmed budget and timeline."
    events = [
        # a1: active through an open deal of r1, noted 6 days ago by someone else: counts.
        f.deal(f.t(-100), "d1", account="a1"),
        f.note(f.t(-6), "r9", good, account="a1"),
        # a2: active through r1's placeholder note 89 days ago; the good note is 7 days
        # old: outside the rolling 7 days.
        f.note(f.t(-89), "r1", "call", account="a2"),
        f.note(f.t(-7), "r1", good, account="a2"),
        # a3: r1's note 90 days ago: not active (outside rolling 90 d) ... except that the
        # survey below makes it active.
        f.note(f.t(-90), "r1", good, account="a3"),
        f.survey(f.t(-3), "r1", 90.0, account="a3"),
        # a4: a closed deal of r1 updated 95 days ago: not active.
        f.deal(f.t(-95), "d4", account="a4", stage=Stage.CLOSED_LOST),
        anchor(f),
    ]
    assert_kpi(kpi(events, "r1", "crm_hygiene"), 1 / 3, "breach", 1, 3)
    assert_kpi(kpi([*events[:-3], anchor(f)], "r1", "crm_hygiene"), None,
               "insufficient_data", 1, 2)


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize(
    ("pipeline", "status"),
    [(2_700_000.0, "ok"), (2_691_000.0, "warning"), (1_800_000.0, "warning"),
     (1_791_000.0, "breach")],
)
def test_coverage_thresholds(pipeline, status):
    """T = 2026-01-01: the 90-day span is exactly 2026-Q1, whose quota is 900 000.

    3.0x ok, 2.99x warning, 2.0x warning, 1.99x breach."""
    f = EventFactory(dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))
    events = [
        f.quota(f.t(-30), "r1", "2026-Q1", 900_000.0),
        f.deal(f.t(-2), "in-first", amount=pipeline / 2, ecd=dt.date(2026, 1, 1)),
        f.deal(f.t(-2), "in-last", amount=pipeline / 2, ecd=dt.date(2026, 3, 31)),
        f.deal(f.t(-2), "after-span", amount=1e6, ecd=dt.date(2026, 4, 1)),
        f.deal(f.t(-2), "before-span", amount=1e6, ecd=dt.date(2025, 12, 31)),
        f.deal(f.t(-2), "no-date", amount=1e6, ecd=None),
        f.deal(f.t(-2), "won", amount=1e6, ecd=dt.date(2026, 2, 1), stage=Stage.CLOSED_WON),
        f.deal(f.t(-2), "other-rep", rep="r2", amount=1e6, ecd=dt.date(2026, 2, 1)),
        anchor(f),
    ]
    assert_kpi(kpi(events, "r1", "pipeline_coverage"), pipeline / 900_000, status,
               pipeline, 900_000)


def test_coverage_quota_spans_two_quarters():
    """T = 2026-03-10: 22 days of Q1 (90 days, 90 000 -> 1 000/day) and 68 days of Q2
    (91 days, 182 000 -> 2 000/day); the latest quota.set of a period wins."""
    f = EventFactory()
    events = [
        f.quota(f.t(-50), "r1", "2026-Q1", 1.0),
        f.quota(f.t(-40), "r1", "2026-Q1", 90_000.0),
        f.quota(f.t(-40), "r1", "2026-Q2", 182_000.0),
        f.deal(f.t(-1), "d1", amount=316_000.0, ecd=dt.date(2026, 6, 7)),
        anchor(f),
    ]
    assert_kpi(kpi(events, "r1", "pipeline_coverage"), 2.0, "warning", 316_000, 158_000)
    no_quota = [e for e in events if not isinstance(e, QuotaSet)]
    assert_kpi(kpi(no_quota, "r1", "pipeline_coverage"), None, "insufficient_data", 316_000, 0)


def test_owner_change_moves_the_deal_and_older_update_does_not_replace():
    f = EventFactory()
    ecd = dt.date(2026, 4, 1)
    events = [
        f.quota(f.t(-30), "r1", "2026-Q2", 1.0),
        f.quota(f.t(-30), "r2", "2026-Q2", 1.0),
        f.deal(f.t(-5), "d1", rep="r1", amount=50_000.0, ecd=ecd),
        f.deal(f.t(-1), "d1", rep="r2", amount=50_000.0, ecd=ecd),
        anchor(f),
        f.deal(f.t(-3), "d1", rep="r1", amount=70_000.0, ecd=ecd),  # older, arrives last
    ]
    r = compute(events, P)
    assert r.outcomes[-1] == "accepted"
    assert r.rep_kpis["r1"]["pipeline_coverage"].numerator == 0
    assert r.rep_kpis["r2"]["pipeline_coverage"].numerator == 50_000


def test_same_instant_updates_are_ordered_by_event_id():
    f = EventFactory()
    ecd = dt.date(2026, 4, 1)
    events = [
        f.quota(f.t(-30), "r1", "2026-Q2", 1.0),
        f.deal(f.t(-1), "d1", amount=2.0, ecd=ecd, event_id="u-b"),
        f.deal(f.t(-1), "d1", amount=1.0, ecd=ecd, event_id="u-a"),
        anchor(f),
    ]
    assert kpi(events, "r1", "pipeline_coverage").numerator == 2.0


# --------------------------------------------------------------------------- revenue


def won(f, at, deal, amount, *, rep="r1", kind=DealKind.NEW_BUSINESS, created=None):
    return f.deal(at, deal, rep=rep, stage=Stage.CLOSED_WON, amount=amount, kind=kind,
                  created_at=created)


@pytest.mark.parametrize(
    ("won_amount", "status"),
    [(999_000.0, "warning"), (1_000_000.0, "ok"), (800_000.0, "warning"),
     (799_999.0, "breach")],
)
def test_attainment_thresholds(won_amount, status):
    """99.9 % warning, 100 % ok, 80 % warning, below breach; last quarter's win ignored."""
    f = EventFactory()
    events = [
        f.quota(f.t(-60), "r1", "2026-Q1", 1_000_000.0),
        f.deal(f.t(-80), "d0", amount=won_amount),
        won(f, f.t(-80), "old", 5e6),  # 2025-12-20: last quarter
        won(f, f.t(-5), "d0", won_amount),
        anchor(f),
    ]
    assert_kpi(kpi(events, "r1", "revenue_attainment"), won_amount / 1e6, status,
               won_amount, 1e6)


def test_growth_expansion_share_and_reopened_close():
    f = EventFactory()
    events = [
        won(f, f.t(-80), "last-q", 100_000.0),  # 2025-Q4
        won(f, f.t(-20), "d1", 80_000.0),
        f.deal(f.t(-18), "d1", stage=Stage.NEGOTIATION, amount=80_000.0),  # reopened
        won(f, f.t(-15), "d1", 10_000.0, kind=DealKind.EXPANSION),  # a second close
        f.deal(f.t(-14), "d1", stage=Stage.CLOSED_LOST, amount=10_000.0),  # no new close
        won(f, f.t(-10), "d2", 20_000.0, kind=DealKind.EXPANSION),
        anchor(f),
    ]
    r = run(events, P).rep_kpis["r1"]
    assert_kpi(r["revenue_growth"], 110_000 / 100_000 - 1, "ok", 110_000, 100_000)
    assert_kpi(r["expansion_share"], 30_000 / 110_000, "ok", 30_000, 110_000)
    assert_kpi(r["win_rate"], None, "insufficient_data", 4, 4)  # last-q is in 90 d too


def test_win_rate_cycle_and_yoy():
    f = EventFactory()
    year_ago = -365
    events = []
    # A year earlier: cycles 20, 30, 40 days (mean 30).
    for i, days in enumerate((20, 30, 40)):
        close = f.t(year_ago - 10 * i)
        events.append(won(f, close, f"y{i}", 1.0, created=close - days * D))
    # Rolling 90 d: cycles 10, 20, 30 days (mean 20); one loss; a win 90 days ago is out.
    for i, days in enumerate((10, 20, 30)):
        close = f.t(-10 * i)
        events.append(won(f, close, f"n{i}", 1.0, created=close - days * D))
    events.append(f.deal(f.t(-3), "lost", stage=Stage.CLOSED_LOST))
    events.append(won(f, f.t(-90), "too-old", 1.0, created=f.t(-100)))
    events.sort(key=lambda e: e.occurred_at)
    r = run(events, P).rep_kpis["r1"]
    assert_kpi(r["sales_cycle_days"], 20.0, "ok", 60.0, 3)
    assert_kpi(r["sales_cycle_yoy_change"], 20 / 30 - 1, "ok", 20.0, 30.0)
    assert_kpi(r["win_rate"], None, "insufficient_data", 3, 4)
    events.append(f.deal(f.t(0), "lost2", stage=Stage.CLOSED_LOST))
    assert_kpi(run(events, P).rep_kpis["r1"]["win_rate"], 3 / 5, "ok", 3, 5)
    # Two wins a year ago: too few for the comparison.
    fewer = [e for e in events if e.deal_id != "y2"]
    r = run(fewer, P).rep_kpis["r1"]
    assert r["sales_cycle_yoy_change"].status == Status.INSUFFICIENT_DATA


def test_close_date_pushes():
    f = EventFactory()
    d = dt.date(2026, 4, 1)
    events = [
        f.deal(f.t(-40), "d1", ecd=d),
        f.deal(f.t(-31), "d1", ecd=d + 5 * D),  # push, but 31 days ago: outside
        f.deal(f.t(-20), "d1", ecd=d + 10 * D),  # push
        f.deal(f.t(-19), "d1", ecd=None),
        f.deal(f.t(-18), "d1", ecd=d + 30 * D),  # previous date missing: no push
        f.deal(f.t(-10), "d1", ecd=d + 40 * D, rep="r2"),  # push credited to r2
        f.deal(f.t(-9), "d1", ecd=d + 35 * D, rep="r1"),  # pulled in: no push
        f.deal(f.t(-8), "d1", ecd=d + 36 * D),  # push
        f.deal(f.t(-20), "d2", ecd=d),
        f.deal(f.t(-2), "d2", ecd=d + D),  # push
        anchor(f),
    ]
    r = run(events, P)
    assert_kpi(r.rep_kpis["r1"]["close_date_pushes"], 1.5, "ok", 3, 2)
    assert_kpi(r.rep_kpis["r2"]["close_date_pushes"], 1.0, "ok", 1, 1)


# --------------------------------------------------------------------------- feedback, leads


def test_alignment_coaching_leads():
    f = EventFactory()
    events = [
        f.survey(f.t(-80), "r1", 0.0),  # last quarter
        f.survey(f.t(-5), "r1", 100.0),
        f.survey(f.t(-4), "r1", 100.0),
        f.survey(f.t(-3), "r1", 0.0, kind=SurveyKind.REP_AUTONOMY),  # other kind
        f.coaching(f.t(-31), "r1", True),  # outside 30 d
        f.coaching(f.t(-2), "r1", False),
        f.coaching(f.t(-2), "r2", False),
        f.coaching(f.t(-1), "r2", True),
        *[f.lead(f.t(-29), "r1") for _ in range(15)],
        f.lead(f.t(-1), "r1", icp_fit=False),
        f.lead(f.t(-30), "r1"),
        anchor(f),
    ]
    r = run(events, P)
    r1 = r.rep_kpis["r1"]
    assert_kpi(r1["customer_alignment"], None, "insufficient_data", 2.0, 2)
    assert_kpi(r1["coaching_adoption"], 0.0, "breach", 0, 1)
    assert_kpi(r.rep_kpis["r2"]["coaching_adoption"], 1.0, "ok", 1, 1)
    assert_kpi(r1["qualified_leads"], 15.0, "ok", 15, 1)
    events.append(f.survey(f.t(-1), "r1", 70.0))
    assert_kpi(kpi(events, "r1", "customer_alignment"), 0.9, "ok", 2.7, 3)
    events.append(f.survey(f.t(-1), "r1", 20.0))
    assert_kpi(kpi(events, "r1", "customer_alignment"), 2.9 / 4, "breach", 2.9, 4)


# --------------------------------------------------------------------------- stalled


def proposal_deal(f, deal, began, *, amount=100_000.0, rep="r1", **kw):
    """A deal in proposal since ``began`` (all required fields set)."""
    return f.deal(began, deal, stage=Stage.PROPOSAL, amount=amount, rep=rep,
                  ecd=dt.date(2026, 6, 1), **kw)


def test_stall_threshold_is_exceeded_not_reached():
    f = EventFactory()
    exactly = proposal_deal(f, "exactly", f.t(-14))  # 14 days: not more than 14
    beyond = proposal_deal(f, "beyond", f.t(-14, micro=-1))
    r = compute([exactly, beyond, anchor(f)], P)
    assert r.stalled_deals == {"beyond"}
    assert_kpi(r.rep_kpis["r1"]["stalled_deals"], 1.0, "warning")
    assert_kpi(r.rep_kpis["r1"]["stalled_value"], 100_000.0, "ok")


def test_stall_clock_trailing_run_notes_and_snooze():
    f = EventFactory()
    good, bad = "Procurement review scheduled next week.", "call"
    today = f.t(0).date()
    events = [
        # Trailing run: proposal since -30 (the amount edit at -5 is no stage change).
        f.deal(f.t(-40), "run", stage=Stage.PROSPECTING),
        proposal_deal(f, "run", f.t(-30)),
        proposal_deal(f, "run", f.t(-5), amount=7.0),
        # Back and forth: proposal again since -3.
        proposal_deal(f, "back", f.t(-30)),
        f.deal(f.t(-20), "back", stage=Stage.NEGOTIATION, ecd=dt.date(2026, 6, 1)),
        proposal_deal(f, "back", f.t(-3)),
        # A qualifying note on the deal restarts the clock; a placeholder does not.
        proposal_deal(f, "noted", f.t(-30)),
        f.note(f.t(-5), "r2", good, deal="noted"),
        proposal_deal(f, "placeholder", f.t(-30)),
        f.note(f.t(-5), "r1", bad, deal="placeholder"),
        # Snoozed until today: not flagged; until yesterday: flagged again.
        proposal_deal(f, "snoozed", f.t(-30), snoozed_until=today),
        proposal_deal(f, "woke", f.t(-30), snoozed_until=today - D),
        # Closed deals never stall.
        f.deal(f.t(-60), "closed", stage=Stage.CLOSED_LOST),
        anchor(f),
    ]
    r = run(events, P)
    assert r.stalled_deals == {"run", "placeholder", "woke"}


@pytest.mark.parametrize(("n_high", "clusters", "status"), [(3, 1, "breach"), (2, 0, "ok")])
def test_high_value_cluster(n_high, clusters, status):
    """3 stalled deals >= 100 000 in one stage of a team: a cluster; 2 (plus one just under
    the amount, plus one in another stage, plus one of another team) are not."""
    f = EventFactory()
    events = [f.rep(f.t(-60), "r1", team="amer"), f.rep(f.t(-60), "r2", team="amer"),
              f.rep(f.t(-60), "r3", team="emea")]
    for i in range(n_high):
        events.append(proposal_deal(f, f"hv{i}", f.t(-20), rep=("r1", "r2")[i % 2]))
    events.append(proposal_deal(f, "small", f.t(-20), amount=99_999.99))
    events.append(f.deal(f.t(-30), "neg", rep="r1", stage=Stage.NEGOTIATION, amount=1e6,
                         ecd=dt.date(2026, 6, 1)))
    events.append(proposal_deal(f, "emea", f.t(-20), rep="r3"))
    events.append(anchor(f, "r3"))
    r = run(events, P)
    assert_kpi(r.team_kpis["amer"]["stalled_high_value_clusters"], clusters, status)
    assert_kpi(r.team_kpis["amer"]["stalled_deals"], n_high + 2, "warning")


def test_stale_close_date():
    f = EventFactory()
    today = f.t(0).date()
    events = [
        f.deal(f.t(-10), "past", ecd=today - D),
        f.deal(f.t(-10), "today", ecd=today),
        f.deal(f.t(-10), "closed", ecd=today - 5 * D, stage=Stage.CLOSED_WON),
        f.deal(f.t(-10), "not-yet", ecd=today - 5 * D),  # not stale while T was -10 ...
        f.deal(f.t(-9), "not-yet", ecd=today + 5 * D),  # ... and pushed out in time
        f.deal(f.t(-10), "moved", ecd=f.t(-12).date()),  # stale on arrival ...
        f.deal(f.t(-9), "moved", ecd=today + 5 * D),  # ... then pushed out
        anchor(f),
    ]
    r = run(events)
    assert r.stale_deals == {"past"}
    # Replayed in time order, "moved" fired while it was stale; it is no longer stale at T.
    assert {v for v in r.point_in_time_fired if v.startswith("stale")} == {
        f"stale_close_date:past:{today - D}",
        f"stale_close_date:moved:{f.t(-12).date()}",
    }


# --------------------------------------------------------------------------- violations


def test_discount_over_authority_cases():
    f = EventFactory()
    pol = policy_with_executive()  # vp-1 is an executive approver
    g = {}
    events = [f.rep(f.t(-60), "r1", tier="junior")]  # limit 10 %

    def grant(name, at, pct, approval_id=None):
        ev = f.discount(at, "r1", pct, approval_id=approval_id, event_id=name)
        g[name] = ev
        events.append(ev)

    grant("at-limit", f.t(-20), 10.0)
    grant("over", f.t(-20), 10.01)
    # approved by the manager, coverage taken from the request: valid
    events.append(f.request(f.t(-22), "r1", 15.0, approval_id="ok"))
    events.append(f.decided(f.t(-21), "r1", approval_id="ok", pct=None))
    grant("approved", f.t(-20), 15.0, "ok")
    # decided at the very instant of the grant: still valid (<=)
    events.append(f.decided(f.t(-19), "r1", approval_id="same", pct=15.0))
    grant("same-instant", f.t(-19), 15.0, "same")
    # rejected / not covering / decided after the grant: invalid at once
    events.append(f.decided(f.t(-21), "r1", approval_id="rej", pct=15.0,
                            decision=Decision.REJECTED))
    grant("rejected", f.t(-20), 15.0, "rej")
    events.append(f.decided(f.t(-21), "r1", approval_id="low", pct=12.0))
    grant("not-covering", f.t(-20), 15.0, "low")
    grant("decided-later", f.t(-20), 15.0, "late")
    events.append(f.decided(f.t(-18), "r1", approval_id="late", pct=15.0))
    # above the manager's 30 %: only an executive may approve
    events.append(f.decided(f.t(-21), "r1", approval_id="mgr", pct=35.0))
    grant("manager-too-high", f.t(-20), 30.01, "mgr")
    events.append(f.decided(f.t(-21), "r1", approval_id="exec", pct=35.0, by="vp-1"))
    grant("executive", f.t(-20), 30.01, "exec")
    # no decision known: fires once W > the grant (W = -7), else pending (at W == the
    # grant's time a decision at that very instant could still arrive)
    grant("unknown-old", f.t(-8), 15.0, "nowhere")
    grant("unknown-at-w", f.t(-7), 15.0, "nowhere")
    grant("unknown-new", f.t(-6), 15.0, "nowhere")
    grant("recent-over", f.t(-6), 12.0)
    # a decision without pct relies on the request, but a request logged after the grant
    # covers nothing: coverage stays unknown, so the grant fires once W passes it.
    events.append(f.decided(f.t(-21), "r1", approval_id="after", pct=None))
    grant("request-after-grant", f.t(-20), 15.0, "after")
    events.append(f.request(f.t(-19), "r1", 15.0, approval_id="after"))
    events.append(anchor(f))
    r = run(events, pol)
    over = {v.split(":", 1)[1] for v in r.violation_ids if v.startswith("discount_over")}
    assert over == {"over", "rejected", "not-covering", "decided-later", "manager-too-high",
                    "unknown-old", "recent-over", "request-after-grant"}
    assert r.pending_ids == {"discount_over_authority:unknown-at-w",
                             "discount_over_authority:unknown-new"}
    # critical_violations_7d counts by the violation's occurred_at (the grant's): only
    # recent-over lies in [date(T) - 6 d, date(T)].
    assert_kpi(r.rep_kpis["r1"]["critical_violations_7d"], 1.0, "breach")
    # Without the executive approver the same grant is over authority.
    assert "discount_over_authority:executive" in run(events, P).violation_ids


def test_floor_and_unnecessary_escalation():
    f = EventFactory()
    events = [
        f.rep(f.t(-60), "r1", tier="junior"),
        f.rep(f.t(-60), "r2", tier="senior"),
        f.discount(f.t(-1), "r2", 40.0, approval_id="x", event_id="floor-ok"),
        f.discount(f.t(-1), "r2", 40.01, approval_id="x", event_id="floor-broken"),
        f.request(f.t(-1), "r1", 10.0, event_id="esc-junior-10"),
        f.request(f.t(-1), "r1", 10.01, event_id="esc-junior-10.01"),
        f.request(f.t(-1), "r2", 20.0, event_id="esc-senior-20"),
        anchor(f),
    ]
    r = run(events, P)
    assert "discount_below_floor:floor-broken" in r.violation_ids
    assert "discount_below_floor:floor-ok" not in r.violation_ids
    esc = {v for v in r.violation_ids if v.startswith("unnecessary")}
    assert esc == {"unnecessary_escalation:esc-junior-10", "unnecessary_escalation:esc-senior-20"}
    assert r.violations["unnecessary_escalation:esc-senior-20"].severity == "info"


def test_missing_required_field():
    f = EventFactory()
    events = [
        f.deal(f.t(-9), "d1", stage=Stage.PROSPECTING, amount=0.0, next_step=None,
               decision_maker=None),  # prospecting requires nothing
        f.deal(f.t(-8), "d1", stage=Stage.PROPOSAL, ecd=None),
        f.deal(f.t(-7), "d1", stage=Stage.PROPOSAL, ecd=None, rep="r2"),  # same identity
        f.deal(f.t(-6), "d1", stage=Stage.NEGOTIATION, ecd=dt.date(2026, 5, 1),
               next_step=""),
        f.deal(f.t(-5), "d2", stage=Stage.CLOSED_WON, amount=0.0),
        anchor(f),
    ]
    r = run(events, P)
    missing = {v for v in r.violation_ids if v.startswith("missing")}
    assert missing == {
        "missing_required_field:d1:proposal:expected_close_date",
        "missing_required_field:d1:negotiation:next_step",
        "missing_required_field:d2:closed_won:amount",
    }
    # One identity, emitted once, by the first update that showed it.
    assert r.violations["missing_required_field:d1:proposal:expected_close_date"].rep_id == "r1"


def test_stage_skipped():
    f = EventFactory()
    ecd = dt.date(2026, 5, 1)
    events = [
        f.deal(f.t(-20), "d1", stage=Stage.PROSPECTING),
        f.deal(f.t(-10), "d1", stage=Stage.PROPOSAL, ecd=ecd, event_id="skip1"),
        f.deal(f.t(-9), "d1", stage=Stage.PROSPECTING),  # backwards: fine
        f.deal(f.t(-8), "d1", stage=Stage.QUALIFICATION),  # one step: fine
        f.deal(f.t(-6), "d1", stage=Stage.NEGOTIATION, ecd=ecd, event_id="skip2"),
        f.deal(f.t(-5), "d1", stage=Stage.CLOSED_WON),  # to closed: not a skip
        f.deal(f.t(-20), "d2", stage=Stage.CLOSED_LOST),
        f.deal(f.t(-10), "d2", stage=Stage.PROPOSAL, ecd=ecd),  # from closed: not a skip
        anchor(f),
    ]
    r = run(events, P)
    assert {v for v in r.violation_ids if v.startswith("stage")} == {
        "stage_skipped:d1:prospecting:proposal:skip1"}
    assert r.pending_ids >= {"stage_skipped:d1:qualification:negotiation:skip2"}
    # exactly at W (-7) it is still pending: an update at that instant may yet arrive
    at_w = [*events[:-1], f.deal(f.t(-7), "d3", stage=Stage.PROSPECTING, event_id="p3"),
            f.deal(f.t(-7), "d3", stage=Stage.PROPOSAL, ecd=ecd, event_id="s3"), anchor(f)]
    assert "stage_skipped:d3:prospecting:proposal:s3" in run(at_w).pending_ids
    allowed = replace(P, stages=replace(P.stages, forbid_skipping=False))
    r = run(events, allowed)
    assert not any(v.startswith("stage") for v in r.violation_ids | r.pending_ids)


def test_closed_won_without_note():
    f = EventFactory()
    good = "Signed after the security review passed."
    events = [
        f.deal(f.t(-30), "no-note", account="a1", stage=Stage.CLOSED_WON, event_id="c1"),
        f.note(f.t(-34), "r1", good, account="a2"),  # exactly 14 days before the close
        f.deal(f.t(-20), "noted", account="a2", stage=Stage.CLOSED_WON, event_id="c2"),
        f.note(f.t(-34, seconds=-1), "r1", good, account="a3"),  # 14 days + 1 s before
        f.deal(f.t(-20), "too-old-note", account="a3", stage=Stage.CLOSED_WON, event_id="c3"),
        f.note(f.t(-21), "r1", "n/a", account="a4"),
        f.deal(f.t(-20), "placeholder", account="a4", stage=Stage.CLOSED_WON, event_id="c4"),
        f.deal(f.t(-20), "lost", account="a5", stage=Stage.CLOSED_LOST),
        # reopened and won again: a second close, judged separately (no note either time)
        f.deal(f.t(-18), "no-note", account="a1", stage=Stage.NEGOTIATION,
               ecd=dt.date(2026, 5, 1)),
        f.deal(f.t(-15), "no-note", account="a1", stage=Stage.CLOSED_WON, event_id="c5"),
        f.deal(f.t(-2), "recent", account="a6", stage=Stage.CLOSED_WON, event_id="c6"),
        anchor(f),
    ]
    r = run(events)
    assert {v for v in r.violation_ids if v.startswith("closed")} == {
        "closed_won_without_note:no-note:c1",
        "closed_won_without_note:too-old-note:c3",
        "closed_won_without_note:placeholder:c4",
        "closed_won_without_note:no-note:c5",
    }
    assert "closed_won_without_note:recent:c6" in r.pending_ids
    # A note arriving (within the bound) clears the pending one.
    events.append(f.note(f.t(-3), "r2", good, account="a6"))
    r = run(events)
    assert not any("recent" in v for v in r.violation_ids | r.pending_ids)


def test_violations_count_into_kpis_and_team_sums():
    f = EventFactory()
    events = [
        f.rep(f.t(-60), "r1", team="amer"),
        f.rep(f.t(-60), "r2", team="amer"),
        f.rep(f.t(-60), "r3", team="emea"),
        f.discount(f.t(-8), "r1", 50.0),  # over authority + below floor, 8 days ago
        f.discount(f.t(-2), "r2", 11.0),  # over authority
        f.request(f.t(-40), "r3", 5.0),  # unnecessary escalation, 40 days ago
        *[f.discount(f.t(-3), "r1", 5.0) for _ in range(3)],
        *[f.discount(f.t(-3), "r2", 5.0) for _ in range(2)],
        *[f.lead(f.t(-3), "r1") for _ in range(12)],
        *[f.lead(f.t(-3), "r2") for _ in range(6)],
        anchor(f, "r3"),
    ]
    r = run(events, P)
    assert_kpi(r.rep_kpis["r1"]["critical_violations_7d"], 0.0, "ok")
    assert_kpi(r.rep_kpis["r1"]["violations_30d"], 2.0, "ok")
    assert_kpi(r.rep_kpis["r2"]["critical_violations_7d"], 1.0, "breach")
    amer = r.team_kpis["amer"]
    assert_kpi(amer["violations_30d"], 3.0, "ok")
    # team autonomy from summed counts: r1 3/4, r2 2/3 (each below 5 decisions) -> 5/7
    assert_kpi(r.rep_kpis["r1"]["autonomy_level"], None, "insufficient_data", 3, 4)
    assert_kpi(amer["autonomy_level"], 5 / 7, "warning", 5, 7)
    assert_kpi(amer["qualified_leads"], 9.0, "breach", 18, 2)
    assert r.team_kpis["emea"]["violations_30d"].numerator == 0
    assert set(r.team_kpis) == {"amer", "emea"}


def test_point_in_time_replay_of_stall_and_note_reset():
    f = EventFactory()
    good = "Legal redlines received, reviewing."
    events = [
        proposal_deal(f, "d1", f.t(-40)),
        f.lead(f.t(-25), "r1"),  # T passes -40 + 14 d: stalls (clock start -40)
        f.note(f.t(-24), "r1", good, deal="d1"),  # restarts the clock
        f.lead(f.t(-9), "r1"),  # -24 + 14 d = -10: stalls again (clock start -24)
        anchor(f),
    ]
    r = run(events, P)
    assert r.point_in_time_fired == {
        f"deal_stalled:d1:proposal:{f.t(-40).isoformat()}",
        f"deal_stalled:d1:proposal:{f.t(-24).isoformat()}",
    }
    assert r.stalled_deals == {"d1"}


def test_unrostered_rep_is_unassigned_junior():
    f = EventFactory()
    r = compute([f.discount(f.t(0), "ghost", 10.01, event_id="g")], P)
    assert r.team_members == {"unassigned": {"ghost"}}
    assert "discount_over_authority:g" in r.violation_ids


def test_point_in_time_violation_moments_and_owner():
    """stale: max(midnight after the close date, the current state's time); stalled:
    max(clock start + stall days, midnight ending the snooze, the current state's time);
    both credited to the owner in the current state."""
    f = EventFactory()
    today = f.t(0).date()
    midnight = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)
    events = [
        f.deal(f.t(-10), "stale-old", ecd=today - D),
        f.deal(f.t(-1), "stale-new", ecd=today - 5 * D, rep="r2"),
        proposal_deal(f, "stalled", f.t(-30)),
        proposal_deal(f, "snoozed", f.t(-30), snoozed_until=today - 3 * D),
        anchor(f),
    ]
    v = run(events).point_in_time_violations
    assert (v[f"stale_close_date:stale-old:{today - D}"].occurred_at) == midnight
    stale_new = v[f"stale_close_date:stale-new:{today - 5 * D}"]
    assert (stale_new.occurred_at, stale_new.rep_id) == (f.t(-1), "r2")
    start = f.t(-30).isoformat()
    assert v[f"deal_stalled:stalled:proposal:{start}"].occurred_at == f.t(-16)
    assert v[f"deal_stalled:snoozed:proposal:{start}"].occurred_at == midnight - 2 * D
