"""The persona library: how a kind of sales rep behaves, as data plus a few small functions.

The personas come from the seed articles (shared/seeds): the *empowered* rep who decides
inside clear guardrails and keeps the CRM current; the two ways autonomy fails — abused
(*over_discounter*: discounts beyond authority, some below the pricing floor) and stifled
(*micromanaged*: escalates even what they may decide alone) — and the two accountability
gaps the articles name: poor CRM hygiene (*poor_hygiene*: placeholder notes such as
"n/a" or "call") and stalled deals (*staller*: high-value deals that sit in one stage).

A persona is a frozen record. Its numbers say how often things happen; its two behaviour
functions decide a discount and write a note body. Everything random draws from the
``random.Random`` passed in, so a scenario is reproducible from its seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

FLOOR_PCT = 40.0  # 1 - default pricing floor 0.60: a discount above this breaks the floor
MANAGER_MAX_PCT = 30.0  # what a manager may approve under the default policy


class Discount(NamedTuple):
    """A discount decision: the percentage and whether the rep escalates it first."""

    pct: float
    escalate: bool


DecideDiscount = Callable[[random.Random, float], Discount]
WriteNote = Callable[[random.Random], str]

QUALIFYING_NOTES = (
    "Discovery call with the buyer: confirmed budget owner and the Q4 timeline.",
    "Walked the CFO through pricing options; they prefer the annual plan.",
    "Security review passed; procurement asked for the standard MSA redlines.",
    "Demo for the operations team went well, two follow-up questions on SSO.",
    "Champion confirmed the decision meeting; sending the business case tomorrow.",
    "Renewal check-in: usage is up 30 percent, expansion conversation started.",
    "Agreed the mutual close plan with legal and the economic buyer.",
)
PLACEHOLDER_NOTES = ("n/a", "call", "tbd", "email", "-", "Call.", "N/A")
ACCOUNT_ONLY_NOTES = (
    "Checked in with the account, no change on their side, will follow up later.",
    "Left a voicemail for procurement; the proposal is still under review.",
    "Sent the usual monthly update email to the account team and the sponsor.",
)
PRACTICES = (
    "discovery questions", "multi-threading", "pricing conversations",
    "mutual close plans", "next-step discipline", "CRM hygiene",
)


def _pct(rng: random.Random, low: float, high: float) -> float:
    """A discount percentage in [low, high], rounded to half a point as CRMs show it."""
    return max(0.5, round(rng.uniform(low, high) * 2) / 2)


def _within(rng: random.Random, limit: float) -> float:
    """A discount inside the rep's own authority (never exactly zero)."""
    return _pct(rng, 2.0, limit * 0.9)


def decide_empowered(rng: random.Random, limit: float) -> Discount:
    """Decides alone inside authority; escalates only what is genuinely above it."""
    if rng.random() < 0.03:
        return Discount(_pct(rng, limit + 1, min(limit + 8, MANAGER_MAX_PCT)), True)
    return Discount(_within(rng, limit), False)


def decide_over_discounter(rng: random.Random, limit: float) -> Discount:
    """Grants beyond authority without approval; about one in four breaks the floor."""
    roll = rng.random()
    if roll < 0.25:
        return Discount(_pct(rng, FLOOR_PCT + 2, 55.0), False)
    if roll < 0.9:
        return Discount(_pct(rng, limit + 2, FLOOR_PCT - 5), False)
    return Discount(_within(rng, limit), False)


def decide_micromanaged(rng: random.Random, limit: float) -> Discount:
    """Escalates nearly everything, even discounts inside own authority."""
    return Discount(_within(rng, limit), rng.random() < 0.9)


def note_qualifying(rng: random.Random) -> str:
    """A useful note: who, what was agreed, what happens next."""
    return rng.choice(QUALIFYING_NOTES)


def note_placeholder_mostly(rng: random.Random) -> str:
    """Four notes in five are placeholders ("n/a", "call"), the rest are real."""
    return rng.choice(PLACEHOLDER_NOTES) if rng.random() < 0.8 else rng.choice(QUALIFYING_NOTES)


def note_account_only(rng: random.Random) -> str:
    """Qualifying, but about the account in general (the staller never notes the deal)."""
    return rng.choice(ACCOUNT_ONLY_NOTES)


@dataclass(frozen=True, slots=True)
class Persona:
    """How one kind of rep behaves. Day ranges are inclusive ``(low, high)`` calendar days."""

    name: str
    summary: str
    tier: str
    decide_discount: DecideDiscount
    write_note: WriteNote
    notes_on_deal: bool = True  # notes carry the deal id (a deal note resets its stall clock)
    note_every_days: tuple[int, int] = (1, 4)  # per account
    stage_days: tuple[int, int] = (6, 12)  # time in each open stage
    stick_in_stage: str | None = None  # the stage where deals stall (staller)
    stick_chance: float = 0.0
    push_close_every_days: int = 0  # re-dates an open deal's close date (0: never)
    win_rate: float = 0.5
    deal_amount: tuple[int, int] = (20_000, 90_000)
    close_date_realism: float = 1.0  # <1: the expected close date is set too early
    fills_negotiation_fields: bool = True  # decision maker and next step
    extra_discounts_per_week: float = 2.0  # re-negotiated discounts on open deals
    leads_per_week: float = 5.0
    icp_fit: float = 0.8
    coaching_applied: float = 0.9
    alignment_score: tuple[int, int] = (85, 98)
    autonomy_score: tuple[int, int] = (75, 95)
    quota: float = 100_000.0  # per calendar quarter


EMPOWERED = Persona(
    name="empowered",
    summary="Decides within authority, keeps notes current, deals progress.",
    tier="senior",
    decide_discount=decide_empowered,
    write_note=note_qualifying,
    stage_days=(8, 15),
    win_rate=0.45,
    leads_per_week=6.0,
    icp_fit=0.85,
    coaching_applied=0.95,
)
OVER_DISCOUNTER = Persona(
    name="over_discounter",
    summary="Grants discounts beyond authority without approval, some below the floor.",
    tier="junior",
    decide_discount=decide_over_discounter,
    write_note=note_qualifying,
    note_every_days=(2, 5),
    extra_discounts_per_week=4.0,
    win_rate=0.6,
    leads_per_week=4.0,
    icp_fit=0.5,
    coaching_applied=0.0,
    alignment_score=(68, 88),
    autonomy_score=(85, 100),
)
MICROMANAGED = Persona(
    name="micromanaged",
    summary="Escalates everything, even discounts inside own authority.",
    tier="senior",
    decide_discount=decide_micromanaged,
    write_note=note_qualifying,
    stage_days=(8, 13),
    extra_discounts_per_week=1.0,
    leads_per_week=3.0,
    icp_fit=0.7,
    coaching_applied=0.6,
    alignment_score=(62, 84),
    autonomy_score=(15, 40),
)
POOR_HYGIENE = Persona(
    name="poor_hygiene",
    summary="Few notes, mostly placeholders; stale close dates; missing required fields.",
    tier="senior",
    decide_discount=decide_empowered,
    write_note=note_placeholder_mostly,
    note_every_days=(4, 10),
    close_date_realism=0.7,
    fills_negotiation_fields=False,
    leads_per_week=4.0,
    icp_fit=0.6,
    coaching_applied=0.1,
    alignment_score=(70, 88),
)
STALLER = Persona(
    name="staller",
    summary="High-value deals sit in proposal past the stall threshold; close dates pushed.",
    tier="principal",
    decide_discount=decide_empowered,
    write_note=note_account_only,
    notes_on_deal=False,
    note_every_days=(2, 5),
    stick_in_stage="proposal",
    stick_chance=0.85,
    push_close_every_days=21,
    deal_amount=(150_000, 320_000),  # stays high-value after any discount
    win_rate=0.4,
    leads_per_week=3.0,
    icp_fit=0.7,
    coaching_applied=0.3,
    alignment_score=(70, 86),
    quota=300_000.0,
)

PERSONAS: dict[str, Persona] = {
    p.name: p for p in (EMPOWERED, OVER_DISCOUNTER, MICROMANAGED, POOR_HYGIENE, STALLER)
}

# Team A is unhealthy (autonomy abused and stifled, poor hygiene, stalls); team B healthy.
UNHEALTHY_TEAM = ("over_discounter", "micromanaged", "poor_hygiene", "staller")
HEALTHY_TEAM = ("empowered",)
DEFAULT_MIX: tuple[tuple[str, ...], ...] = (UNHEALTHY_TEAM, HEALTHY_TEAM)


def persona(name: str) -> Persona:
    """The persona called ``name``; a KeyError lists the known ones."""
    try:
        return PERSONAS[name]
    except KeyError:
        raise KeyError(f"unknown persona {name!r} (known: {', '.join(PERSONAS)})") from None
