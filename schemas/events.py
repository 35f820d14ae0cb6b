"""Typed input events: the envelope plus one struct per event ``type`` (SPEC section 1).

Every event is a flat JSON object: the envelope fields (``event_id``, ``type``,
``schema_version``, ``occurred_at``, ``source``) sit beside the event's own fields.
The ``type`` field is the msgspec tag, so one compiled decoder picks the struct.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal, get_args

import msgspec

# The Meta descriptions and constraints are published in the JSON Schemas (schemas/json/).
Id = Annotated[
    str, msgspec.Meta(min_length=1, max_length=128, description="A non-empty identifier.")
]
Text = Annotated[str, msgspec.Meta(max_length=256)]
Timestamp = Annotated[
    dt.datetime,
    msgspec.Meta(tz=True, description="An RFC 3339 date-time with a UTC offset or Z."),
]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100, description="A percentage, 0 to 100.")]
Money = Annotated[
    float, msgspec.Meta(ge=0, description="A non-negative amount in the record's currency.")
]
Score = Annotated[float, msgspec.Meta(ge=0, le=100, description="A score, 0 to 100.")]
Currency = Annotated[
    str, msgspec.Meta(pattern="^[A-Z]{3}$", description="An ISO 4217 currency code.")
]
Period = Annotated[
    str, msgspec.Meta(pattern="^[0-9]{4}-Q[1-4]$", description="A calendar quarter, YYYY-Qn.")
]
NoteBody = Annotated[
    str,
    msgspec.Meta(
        max_length=100_000,
        description="Free text; judged for quality on arrival, then dropped (personal data).",
    ),
]

SCHEMA_VERSION = 1
# A Literal, so the compiled decoder itself rejects other versions and the JSON Schemas
# publish the supported set.
SchemaVersion = Literal[1]
SUPPORTED_VERSIONS: frozenset[int] = frozenset(get_args(SchemaVersion))


class Stage(StrEnum):
    """Deal stages in pipeline order; the two closed stages end a deal."""

    PROSPECTING = "prospecting"
    QUALIFICATION = "qualification"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


OPEN_STAGES: tuple[Stage, ...] = (
    Stage.PROSPECTING,
    Stage.QUALIFICATION,
    Stage.PROPOSAL,
    Stage.NEGOTIATION,
)


class DealKind(StrEnum):
    """Whether a deal is new business or an expansion of an existing account."""

    NEW_BUSINESS = "new_business"
    EXPANSION = "expansion"


class Decision(StrEnum):
    """The outcome of an approval request."""

    APPROVED = "approved"
    REJECTED = "rejected"


class SurveyKind(StrEnum):
    """Who answered a survey and about what."""

    CUSTOMER_ALIGNMENT = "customer_alignment"
    REP_AUTONOMY = "rep_autonomy"


class Envelope(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    """Fields every event carries; ``type`` is the tag of the concrete struct."""

    event_id: Id
    schema_version: SchemaVersion
    occurred_at: Timestamp
    source: Text


class DealUpdated(Envelope, kw_only=True, tag="deal.updated"):
    """Full current state of a deal (an upsert, never a delta)."""

    deal_id: Id
    account_id: Id
    rep_id: Id
    stage: Stage
    amount: Money
    currency: Currency
    expected_close_date: dt.date | None = None
    kind: DealKind = DealKind.NEW_BUSINESS
    created_at: Timestamp
    next_step: Text | None = None
    decision_maker: Text | None = None
    snoozed_until: dt.date | None = None
    snooze_reason: Text | None = None


class DiscountGranted(Envelope, kw_only=True, tag="discount.granted"):
    """A discount a rep granted on a deal, with the approval it relied on, if any."""

    deal_id: Id
    rep_id: Id
    discount_pct: Percent
    list_amount: Money
    approved_by: Id | None = None
    approval_id: Id | None = None


class NoteLogged(Envelope, kw_only=True, tag="note.logged"):
    """A CRM note. ``body`` is judged for quality at the boundary, then dropped."""

    note_id: Id
    account_id: Id
    deal_id: Id | None = None
    rep_id: Id
    body: NoteBody


class LeadQualified(Envelope, kw_only=True, tag="lead.qualified"):
    """A lead qualified by a rep, and whether it fits the ideal customer profile."""

    lead_id: Id
    rep_id: Id
    icp_fit: bool


class ApprovalRequested(Envelope, kw_only=True, tag="approval.requested"):
    """A rep asking for approval of a discount."""

    approval_id: Id
    deal_id: Id
    rep_id: Id
    requested_discount_pct: Percent


class ApprovalDecided(Envelope, kw_only=True, tag="approval.decided"):
    """A manager's (or higher authority's) decision on an approval request."""

    approval_id: Id
    deal_id: Id
    rep_id: Id
    requested_discount_pct: Percent | None = None
    decided_by: Id
    decision: Decision


class QuotaSet(Envelope, kw_only=True, tag="quota.set"):
    """A rep's quota for one calendar quarter."""

    rep_id: Id
    period: Period
    amount: Money
    currency: Currency


class RepUpdated(Envelope, kw_only=True, tag="rep.updated"):
    """Roster entry. ``manager_contact`` is operational config for alert routing only."""

    rep_id: Id
    team: Id
    region: Text
    manager_id: Id
    manager_contact: Text | None = None
    tier: Id
    active: bool = True


class CoachingLogged(Envelope, kw_only=True, tag="coaching.logged"):
    """A coaching session on a practice, and whether the rep applied it."""

    rep_id: Id
    practice: Text
    applied: bool


class SurveySubmitted(Envelope, kw_only=True, tag="survey.submitted"):
    """A customer-alignment or rep-autonomy survey score."""

    rep_id: Id
    account_id: Id
    kind: SurveyKind
    score: Score


Event = (
    DealUpdated
    | DiscountGranted
    | NoteLogged
    | LeadQualified
    | ApprovalRequested
    | ApprovalDecided
    | QuotaSet
    | RepUpdated
    | CoachingLogged
    | SurveySubmitted
)

EVENT_TYPES: dict[str, type[Envelope]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in Event.__args__  # type: ignore[attr-defined]
}

# Default topic of each event family (SPEC section 1); the runtime may rename topics.
TOPIC_TYPES: dict[str, frozenset[str]] = {
    "crm.deals": frozenset({"deal.updated"}),
    "crm.discounts": frozenset({"discount.granted"}),
    "crm.notes": frozenset({"note.logged"}),
    "crm.leads": frozenset({"lead.qualified"}),
    "crm.approvals": frozenset({"approval.requested", "approval.decided"}),
    "crm.quotas": frozenset({"quota.set"}),
    "crm.reps": frozenset({"rep.updated"}),
    "crm.feedback": frozenset({"coaching.logged", "survey.submitted"}),
}
